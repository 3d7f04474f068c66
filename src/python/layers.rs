//! `RecurrentStack`: the encoder layers of `rnnrs.RNN / LSTM / GRU` on the Rust core
//! (src/nn/stack.rs). Arguments are checked here (dtype, contiguity, shapes); forward and
//! backward run through [`detached`].

use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::call::{self, detached};
use super::convert::{
    array, set_params_from_py, shape_str, slice, state_from_py, state_into_py, tensors_to_py,
    value_err,
};
use crate::nn::{CellKind, RecurrentStack, StackConfig};

/// Stacked, optionally bidirectional RNN/LSTM/GRU layers in float32 (the Rust side of
/// `rnnrs.RNN`, `rnnrs.LSTM`, `rnnrs.GRU`; use those). Arrays are batch-first.
#[pyclass(module = "rnnrs._core", name = "RecurrentStack")]
pub struct PyRecurrentStack {
    stack: RecurrentStack,
}

impl PyRecurrentStack {
    /// (L*D, batch, H): the shape of every state tensor.
    fn state_shape(&self, batch: usize) -> [usize; 3] {
        let c = self.stack.config();
        [c.num_layers * c.directions(), batch, c.hidden_size]
    }
}

#[pymethods]
impl PyRecurrentStack {
    #[new]
    #[pyo3(signature = (
        cell, input_size, hidden_size, /, *, num_layers=1, bidirectional=false, dropout=0.0,
        seed=0
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        cell: &str,
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        bidirectional: bool,
        dropout: f64,
        seed: u64,
    ) -> PyResult<Self> {
        let mut cfg = StackConfig::new(CellKind::parse(cell)?, input_size, hidden_size, num_layers);
        cfg.bidirectional = bidirectional;
        cfg.dropout = dropout as f32;
        let stack = detached(py, |_| RecurrentStack::new(cfg, seed))??;
        Ok(PyRecurrentStack { stack })
    }

    /// The parameter names in torch's order (`weight_ih_l0`, ..., `*_reverse`).
    fn param_names(&self) -> Vec<String> {
        let entries = self.stack.params().layout().entries();
        entries.iter().map(|e| e.name.clone()).collect()
    }

    /// Copies of the parameters by name, float32, torch layouts.
    fn get_parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let params = self.stack.params();
        tensors_to_py(py, params.layout(), params.values())
    }

    /// Replace every parameter (all names required, shapes checked, copied as float32).
    fn set_parameters(&mut self, params: &Bound<'_, PyAny>) -> PyResult<()> {
        call::guarded(params.py(), || {
            set_params_from_py(params, self.stack.params_mut())
        })
    }

    /// x float32 (B, T, I) C-contiguous, state None or a tuple of (L*D, B, H) float32
    /// arrays -> (outputs (B, T, D*H), final state). `train` applies dropout.
    fn forward<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
        train: bool,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let xa = array::<f32>(x, "x", "float32", 3)?;
        let (b, t, i) = (xa.shape()[0], xa.shape()[1], xa.shape()[2]);
        let want = self.stack.config().input_size;
        if i != want || b == 0 || t == 0 {
            return Err(value_err(format!(
                "x: expected shape (batch >= 1, time >= 1, {want}), got {}",
                shape_str(xa.shape())
            )));
        }
        let has_c = self.stack.config().cell.has_cell_state();
        let s0 = state_from_py(state, "state", has_c, self.state_shape(b))?;
        let xs = slice(&xa, "x")?;
        let stack = &mut self.stack;
        let (out, fin) = detached(py, |_| stack.forward(xs, b, t, s0.as_ref(), train))??;
        let width = out.len() / (b * t);
        let out = PyArray1::from_vec(py, out).reshape([b, t, width])?;
        Ok((out.into_any(), state_into_py(py, fin, self.state_shape(b))?))
    }

    /// Gradients through the last forward: d_outputs float32 (B, T, D*H), d_final_state None
    /// or like the state -> (d_x (B, T, I), d_state0, grads by name). One backward per forward.
    fn backward<'py>(
        &mut self,
        py: Python<'py>,
        d_outputs: &Bound<'py, PyAny>,
        d_final_state: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let (b, t) = self.stack.last_forward().ok_or_else(|| {
            value_err("backward: call forward(x) first (each forward allows one backward)".into())
        })?;
        let da = array::<f32>(d_outputs, "d_outputs", "float32", 3)?;
        let c = self.stack.config();
        let want = [b, t, c.directions() * c.hidden_size];
        if da.shape() != want {
            return Err(value_err(format!(
                "d_outputs: expected shape {}, got {}",
                shape_str(&want),
                shape_str(da.shape())
            )));
        }
        let has_c = self.stack.config().cell.has_cell_state();
        let d_final = state_from_py(d_final_state, "d_final_state", has_c, self.state_shape(b))?;
        let ds = slice(&da, "d_outputs")?;
        let stack = &mut self.stack;
        let g = detached(py, |_| stack.backward(ds, d_final.as_ref()))??;
        let i = self.stack.config().input_size;
        let dx = PyArray1::from_vec(py, g.dx).reshape([b, t, i])?;
        let d_state0 = state_into_py(py, g.d_state0, self.state_shape(b))?;
        let params = self.stack.params();
        let grads = tensors_to_py(py, params.layout(), params.grads())?;
        Ok((dx.into_any(), d_state0, grads))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRecurrentStack>()
}
