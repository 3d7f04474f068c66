//! NumPy and Python values in and out of the core, for every binding: strict array views
//! (dtype, dimensions, C-contiguity checked, errors naming the argument), recurrent states as
//! tuples of arrays, and named tensors as dicts of arrays.

use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArray1,
    PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::nn::{Layout, Params, State};

pub(super) fn value_err(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}

pub(super) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_string(), |n| n.to_string())
}

/// A C-contiguous numpy array of element type T, else TypeError / ValueError naming `name`.
pub(super) fn array<'py, T: numpy::Element>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    what: &str,
    ndim: usize,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let py = obj.py();
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: expected a numpy array of {what}, got {}",
            type_name(obj)
        ))
    })?;
    if !arr.dtype().is_equiv_to(&numpy::dtype::<T>(py)) {
        return Err(PyTypeError::new_err(format!(
            "{name}: expected a numpy array of {what}, got dtype {}",
            arr.dtype()
        )));
    }
    if arr.ndim() != ndim {
        return Err(value_err(format!(
            "{name}: expected a {ndim}-D array, got shape {}",
            shape_str(arr.shape())
        )));
    }
    if !arr.is_c_contiguous() {
        return Err(value_err(format!(
            "{name}: expected a C-contiguous array (use numpy.ascontiguousarray)"
        )));
    }
    let typed = arr.cast::<PyArrayDyn<T>>()?;
    typed
        .try_readonly()
        .map_err(|e| value_err(format!("{name}: {e}")))
}

pub(super) fn slice<'a, T: numpy::Element>(
    a: &'a PyReadonlyArrayDyn<'_, T>,
    name: &str,
) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|e| value_err(format!("{name}: {e}")))
}

/// The ids of a 1-D uint32 array (pyo3 checked the dtype), which must be contiguous.
pub(super) fn ids_array<'a>(ids: &'a PyReadonlyArray1<'_, u32>, name: &str) -> PyResult<&'a [u32]> {
    ids.as_slice()
        .map_err(|_| value_err(format!("{name}: expected a contiguous uint32 array")))
}

/// A shape as Python prints it: (3, 4) or (5,).
pub(super) fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// An int > 0 below 2^63 (not a bool), else TypeError / ValueError naming `name`.
pub(super) fn positive_int(v: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    int_at_least(v, name, 1, "a positive int")
}

/// An int >= 0 below 2^63 (not a bool), else TypeError / ValueError naming `name`.
pub(super) fn non_negative_int(v: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    int_at_least(v, name, 0, "a non-negative int")
}

/// An int in `min..2^63` (an int out of range is a ValueError, not an OverflowError).
fn int_at_least(v: &Bound<'_, PyAny>, name: &str, min: i64, what: &str) -> PyResult<usize> {
    // numpy integers count (they have __index__); bools do not.
    let is_int = !v.is_instance_of::<pyo3::types::PyBool>()
        && (v.is_instance_of::<pyo3::types::PyInt>() || v.hasattr("__index__")?);
    if !is_int {
        return Err(PyTypeError::new_err(format!(
            "{name}: expected {what}, got {}",
            type_name(v)
        )));
    }
    match v.extract::<i64>() {
        Ok(n) if n >= min => Ok(n as usize),
        _ => Err(value_err(format!(
            "{name}: expected {what} below 2^63, got {v}"
        ))),
    }
}

/// None, or `(h,)` / `(h, c)` (`has_c`) of C-contiguous float32 arrays of `shape`
/// (layers, batch, hidden) -> State; errors name `name`.
pub(super) fn state_from_py(
    obj: &Bound<'_, PyAny>,
    name: &str,
    has_c: bool,
    shape: [usize; 3],
) -> PyResult<Option<State>> {
    if obj.is_none() {
        return Ok(None);
    }
    let n = if has_c { 2 } else { 1 };
    let what = format!(
        "None or a tuple of {n} float32 arrays of shape {}",
        shape_str(&shape)
    );
    let tuple = obj.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err(format!("{name}: expected {what}, got {}", type_name(obj)))
    })?;
    if tuple.len() != n {
        return Err(value_err(format!(
            "{name}: expected {what}, got {} arrays",
            tuple.len()
        )));
    }
    let mut parts = Vec::with_capacity(n);
    for (k, item) in tuple.iter().enumerate() {
        let name = format!("{name}[{k}]");
        let a = array::<f32>(&item, &name, "float32", 3)?;
        if a.shape() != shape {
            return Err(value_err(format!(
                "{name}: expected shape {}, got {}",
                shape_str(&shape),
                shape_str(a.shape())
            )));
        }
        parts.push(slice(&a, &name)?.to_vec());
    }
    let c = if n == 2 { parts.pop() } else { None };
    let h = parts.pop().unwrap_or_default();
    Ok(Some(State {
        batch: shape[1],
        h,
        c,
    }))
}

/// State -> `(h,)` or `(h, c)` of new float32 arrays of `shape`.
pub(super) fn state_into_py(
    py: Python<'_>,
    s: State,
    shape: [usize; 3],
) -> PyResult<Bound<'_, PyTuple>> {
    let h = PyArray1::from_vec(py, s.h).reshape(shape)?;
    match s.c {
        Some(c) => PyTuple::new(py, [h, PyArray1::from_vec(py, c).reshape(shape)?]),
        None => PyTuple::new(py, [h]),
    }
}

/// The tensors of a flat buffer as a dict of new float32 arrays, by name, in layout order.
pub(super) fn tensors_to_py<'py>(
    py: Python<'py>,
    layout: &Layout,
    flat: &[f32],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for e in layout.entries() {
        let a = PyArray1::from_slice(py, &flat[e.range()]).reshape(e.shape.clone())?;
        d.set_item(&e.name, a)?;
    }
    Ok(d)
}

/// `obj` as a dict whose keys are exactly `keys`, else TypeError / ValueError naming `what`
/// and the missing and unexpected keys.
pub(super) fn dict_with_keys<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    keys: &[String],
) -> PyResult<Bound<'py, PyDict>> {
    let d = obj.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: expected a dict of arrays, got {}",
            type_name(obj)
        ))
    })?;
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !d.contains(k.as_str()).unwrap_or(false))
        .collect();
    let mut extra = Vec::new();
    for k in d.keys() {
        let k: String = k.extract()?;
        if !keys.contains(&k) {
            extra.push(k);
        }
    }
    if !missing.is_empty() || !extra.is_empty() {
        return Err(value_err(format!(
            "{what}: missing tensors {missing:?}, unexpected tensors {extra:?}"
        )));
    }
    Ok(d.clone())
}

/// One value of `d`, which must not be None; errors name `what[key]`.
pub(super) fn item<'py>(
    d: &Bound<'py, PyDict>,
    what: &str,
    key: &str,
) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?
        .filter(|v| !v.is_none())
        .ok_or_else(|| value_err(format!("{what}[{key:?}]: is None")))
}

/// The tensors of `layout`, each found in `d` under `prefix` + its name as a numeric array of
/// its shape, as one flat float32 buffer in layout order; errors name `what[key]`.
pub(super) fn flat_from_dict(
    d: &Bound<'_, PyDict>,
    what: &str,
    layout: &Layout,
    prefix: &str,
) -> PyResult<Vec<f32>> {
    let np = d.py().import("numpy")?;
    let mut flat = vec![0.0f32; layout.total()];
    for e in layout.entries() {
        let key = format!("{prefix}{}", e.name);
        let a = np.call_method1("asarray", (item(d, what, &key)?,))?;
        let a = a
            .cast::<PyUntypedArray>()
            .map_err(|_| PyTypeError::new_err(format!("{what}[{key:?}]: expected an array")))?;
        if a.shape() != e.shape.as_slice() {
            return Err(value_err(format!(
                "{what}[{key:?}]: expected shape {}, got {}",
                shape_str(&e.shape),
                shape_str(a.shape())
            )));
        }
        let kind = a.dtype().kind();
        if kind != b'f' && kind != b'i' && kind != b'u' {
            return Err(PyTypeError::new_err(format!(
                "{what}[{key:?}]: expected a float array, got dtype {}",
                a.dtype()
            )));
        }
        let f = np.call_method1("ascontiguousarray", (a, "float32"))?;
        let ro = array::<f32>(&f, &key, "float32", e.shape.len())?;
        flat[e.range()].copy_from_slice(slice(&ro, &key)?);
    }
    Ok(flat)
}

/// Every tensor of `params` (the dict must hold exactly their names), then copied in.
pub(super) fn set_params_from_py(obj: &Bound<'_, PyAny>, params: &mut Params) -> PyResult<()> {
    let names: Vec<String> = params
        .layout()
        .entries()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let d = dict_with_keys(obj, "params", &names)?;
    let flat = flat_from_dict(&d, "params", params.layout(), "")?;
    params.values_mut().copy_from_slice(&flat);
    Ok(())
}
