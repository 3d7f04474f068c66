//! Counting and estimating within a memory budget, straight to an ARPA file: lmplz's
//! pipeline for corpora whose counts do not fit in memory. Interpolated methods
//! (modified Kneser-Ney, Kneser-Ney, absolute discounting, Witten-Bell); the file is byte
//! for byte the one the in-memory path writes.
//!
//! The n-grams are split by their last word into [`PARTITIONS`] partitions. Everything an
//! n-gram's probability needs, but its context's sums, stays inside its partition: its
//! suffix (one word shorter at the front) and its left extensions (continuation counts)
//! end with the same word. So:
//!
//! 1. Text is counted in chunks (as src/ngram/spill.rs does); when the tables outgrow
//!    their share of the budget they are spilled as a run: per order and partition, the
//!    n-grams as word tuples with their counts, in sorted order.
//! 2. Partitions are loaded a group at a time (as many as fit in half the budget), their
//!    runs merged. Pass A computes the adjusted counts, each order's counts-of-counts, and
//!    each context's sums over the group (integers), written sorted by context; the
//!    groups' sums are then added up context by context into one sorted file per order.
//! 3. The discounts follow from the counts-of-counts. Pass B loads each group again and
//!    computes its probabilities order by order, reading the context sums it needs in
//!    one ordered scan of their file; each order's probabilities go to a sorted file.
//! 4. The ARPA file is written order by order, merging the groups' files, the backoffs
//!    read from the context sums.
//!
//! Every number is computed by the same functions as in the in-memory estimator
//! (src/ngram/estimate.rs: [`alpha`], [`gamma`]) from the same integers, so the results
//! are identical. The vocabulary and the unigram arrays stay in memory. Temporary files
//! are removed at the end, on errors and on interrupts; the ARPA file is written under a
//! temporary name and renamed when complete.
//!
//! No counterpart in the reference: it computes the same model as
//! python/rnnrs/reference/ngram.py::estimate.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::arpa::{push_number, write_atomically};
use super::counts::{unpack, NGramCounts};
use super::estimate::{
    alpha, counts_of_counts, gamma, log10, mkn_discounts, single_discount, Method, Smoothing, Sums,
};
use super::spill::{for_each_chunk, temp_error, Budget, TempFiles};
use super::vocab::BOS;
use super::MAX_ORDER;
use crate::{CoreError, Result};

/// Partitions of the n-grams by last word (groups of them are estimated together).
const PARTITIONS: usize = 64;
/// Bytes of memory per n-gram of a group while it is estimated, besides its words.
const GROUP_BYTES_PER_NGRAM: u64 = 48;
/// The buffer of each temporary file read or written: many are open at once (a run's
/// sections, a writer per group), and they count against the budget.
const FILE_BUFFER: usize = 1 << 14;
/// Records between two checks for Ctrl-C.
const CHECK_EVERY: u64 = 1 << 20;

/// The partition of n-grams ending with word `w` (a hash: frequent words are small ids).
fn partition(w: u32) -> usize {
    ((w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
}

/// What the ARPA file holds: n-grams per order (unigrams: the whole vocabulary).
pub type Written = Vec<u64>;

/// A fixed-size record: `n` word ids, then `m` u64s.
fn record_bytes(n: usize, m: usize) -> usize {
    4 * n + 8 * m
}

/// Writes records to a temporary file.
struct Records {
    out: BufWriter<File>,
    path: PathBuf,
    count: u64,
    buf: Vec<u8>,
}

impl Records {
    fn create(temp: &mut TempFiles, what: &str) -> Result<Records> {
        let (path, file) = temp.create(what)?;
        Ok(Records {
            out: BufWriter::with_capacity(FILE_BUFFER, file),
            path,
            count: 0,
            buf: Vec::new(),
        })
    }

    fn put(&mut self, words: &[u32], values: &[u64]) -> Result<()> {
        self.buf.clear();
        for w in words {
            self.buf.extend_from_slice(&w.to_le_bytes());
        }
        for v in values {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.out
            .write_all(&self.buf)
            .map_err(|e| temp_error(&self.path, e))?;
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(PathBuf, u64)> {
        self.out.flush().map_err(|e| temp_error(&self.path, e))?;
        Ok((self.path, self.count))
    }
}

/// Reads `count` records of `n` words and `m` values from `offset` of a temporary file.
struct Reader {
    src: BufReader<File>,
    path: PathBuf,
    n: usize,
    m: usize,
    left: u64,
    buf: Vec<u8>,
}

impl Reader {
    fn open(path: &Path, offset: u64, count: u64, n: usize, m: usize) -> Result<Reader> {
        let mut file = File::open(path).map_err(|e| temp_error(path, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| temp_error(path, e))?;
        Ok(Reader {
            src: BufReader::with_capacity(FILE_BUFFER, file),
            path: path.to_owned(),
            n,
            m,
            left: count,
            buf: vec![0; record_bytes(n, m)],
        })
    }

    /// The next record into `words` and `values`; false after the last.
    fn next(&mut self, words: &mut [u32], values: &mut [u64]) -> Result<bool> {
        if self.left == 0 {
            return Ok(false);
        }
        self.src
            .read_exact(&mut self.buf)
            .map_err(|e| temp_error(&self.path, e))?;
        for (i, w) in words[..self.n].iter_mut().enumerate() {
            *w = u32::from_le_bytes(self.buf[4 * i..4 * i + 4].try_into().unwrap_or([0; 4]));
        }
        let at = 4 * self.n;
        for (i, v) in values[..self.m].iter_mut().enumerate() {
            let b = &self.buf[at + 8 * i..at + 8 * i + 8];
            *v = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        }
        self.left -= 1;
        Ok(true)
    }
}

/// One record stream of a k-way merge: its reader and its current record.
struct Head {
    reader: Reader,
    words: [u32; MAX_ORDER],
    values: [u64; 10],
    live: bool,
}

impl Head {
    fn new(mut reader: Reader) -> Result<Head> {
        let mut words = [0; MAX_ORDER];
        let mut values = [0; 10];
        let live = reader.next(&mut words, &mut values)?;
        Ok(Head {
            reader,
            words,
            values,
            live,
        })
    }

    fn advance(&mut self) -> Result<()> {
        self.live = self.reader.next(&mut self.words, &mut self.values)?;
        Ok(())
    }
}

/// What [`merge_streams`] calls with each distinct tuple and, for every stream holding
/// it, the stream's index and values.
type OnMerged<'a> = dyn FnMut(&[u32], &[(usize, &[u64; 10])]) -> Result<()> + 'a;

/// Merge sorted record streams of `n` words: `f` gets each distinct tuple once, with the
/// streams holding it (in stream order).
fn merge_streams(
    heads: &mut [Head],
    n: usize,
    check: &mut dyn FnMut() -> Result<()>,
    f: &mut OnMerged<'_>,
) -> Result<()> {
    let mut heap: BinaryHeap<Reverse<([u32; MAX_ORDER], usize)>> = heads
        .iter()
        .enumerate()
        .filter(|(_, h)| h.live)
        .map(|(i, h)| Reverse((h.words, i)))
        .collect();
    let mut same: Vec<usize> = Vec::new();
    let mut done = 0u64;
    while let Some(Reverse((words, _))) = heap.peek().copied() {
        same.clear();
        while let Some(&Reverse((w, i))) = heap.peek() {
            if w[..n] != words[..n] {
                break;
            }
            heap.pop();
            same.push(i);
        }
        same.sort_unstable();
        let values: Vec<(usize, &[u64; 10])> =
            same.iter().map(|&i| (i, &heads[i].values)).collect();
        f(&words[..n], &values)?;
        for &i in &same {
            heads[i].advance()?;
            if heads[i].live {
                heap.push(Reverse((heads[i].words, i)));
            }
        }
        done += 1;
        if done.is_multiple_of(CHECK_EVERY) {
            check()?;
        }
    }
    Ok(())
}

/// A spilled run: the n-grams of orders 2.. by partition and order, each a sorted section.
struct Run {
    path: PathBuf,
    /// `sections[q][n]`: (offset, records) of partition q's n-grams of order n.
    sections: Vec<[(u64, u64); MAX_ORDER + 1]>,
}

/// Write the tables of `counts` as a run (by partition, then order) and empty them.
fn spill_partitioned(counts: &mut NGramCounts, temp: &mut TempFiles) -> Result<Run> {
    let order = counts.order();
    let levels = &counts.levels;
    let mut by_partition: Vec<Vec<Vec<u32>>> = vec![vec![Vec::new(); order + 1]; PARTITIONS];
    for n in 2..=order {
        for (i, &key) in levels[n - 2].keys.iter().enumerate() {
            by_partition[partition(unpack(key).1)][n].push(i as u32);
        }
    }
    // Sections one after another, addressed by byte offset (one record size per order).
    let mut out = Records::create(temp, "run")?;
    let mut sections = vec![[(0u64, 0u64); MAX_ORDER + 1]; PARTITIONS];
    let mut words = [0u32; MAX_ORDER];
    let mut at = 0u64;
    for (q, orders) in by_partition.iter().enumerate() {
        for n in 2..=order {
            for &i in &orders[n] {
                tuple(counts, n, i, &mut words[..n]);
                out.put(&words[..n], &[levels[n - 2].counts[i as usize]])?;
            }
            let records = orders[n].len() as u64;
            sections[q][n] = (at, records);
            at += records * record_bytes(n, 1) as u64;
        }
    }
    let (path, _) = out.finish()?;
    counts.clear_levels();
    Ok(Run { path, sections })
}

/// The words of entry `i` of order n.
fn tuple(counts: &NGramCounts, n: usize, i: u32, out: &mut [u32]) {
    let (mut p, w) = unpack(counts.levels[n - 2].keys[i as usize]);
    out[n - 1] = w;
    for m in (2..n).rev() {
        let (pp, ww) = unpack(counts.levels[m - 2].keys[p as usize]);
        out[m - 1] = ww;
        p = pp;
    }
    out[0] = p;
}

/// One order of a group of partitions, in sorted order.
#[derive(Default)]
struct Order {
    n: usize,
    /// `n` words per n-gram.
    words: Vec<u32>,
    raw: Vec<u64>,
    /// The counts estimated from (adjusted counts below the highest order).
    a: Vec<u64>,
}

impl Order {
    fn len(&self) -> usize {
        self.raw.len()
    }

    fn gram(&self, g: usize) -> &[u32] {
        &self.words[g * self.n..(g + 1) * self.n]
    }
}

/// What both passes share.
struct Job<'a> {
    order: usize,
    smoothing: &'a Smoothing,
    runs: Vec<Run>,
    vocab_size: usize,
}

impl Job<'_> {
    /// The n-grams of orders 2.. of the partitions in `group`, runs merged, sorted, with
    /// their estimation counts (Kneser-Ney's adjusted counts where the method uses them);
    /// `cont1` gets the continuation counts of the group's unigrams.
    fn load(
        &self,
        group: &[usize],
        cont1: &mut [u64],
        check: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Vec<Order>> {
        let mut orders: Vec<Order> = Vec::with_capacity(self.order + 1);
        orders.push(Order::default());
        orders.push(Order::default());
        for n in 2..=self.order {
            let mut o = Order {
                n,
                ..Order::default()
            };
            for &q in group {
                let mut heads = Vec::with_capacity(self.runs.len());
                for run in &self.runs {
                    let (offset, count) = run.sections[q][n];
                    heads.push(Head::new(Reader::open(&run.path, offset, count, n, 1)?)?);
                }
                merge_streams(&mut heads, n, check, &mut |words, values| {
                    o.words.extend_from_slice(words);
                    o.raw.push(values.iter().map(|(_, v)| v[0]).sum());
                    Ok(())
                })?;
            }
            sort_order(&mut o);
            orders.push(o);
        }
        let adjusted = self.smoothing.method.adjusted();
        for n in 2..=self.order {
            let (below, above) = orders.split_at_mut(n + 1);
            let o = &mut below[n];
            o.a = o.raw.clone();
            if n < self.order && adjusted {
                let cont = continuation(o, &above[0])?;
                for (g, c) in cont.into_iter().enumerate() {
                    if o.gram(g)[0] != BOS {
                        o.a[g] = c;
                    }
                }
            }
        }
        if self.order >= 2 {
            for g in 0..orders[2].len() {
                cont1[orders[2].gram(g)[1] as usize] += 1;
            }
        }
        Ok(orders)
    }
}

/// Sort an order's n-grams by their words (the groups' partitions come one after another).
fn sort_order(o: &mut Order) {
    let n = o.n;
    let mut perm: Vec<u32> = (0..o.len() as u32).collect();
    let words = &o.words;
    perm.par_sort_unstable_by(|&x, &y| {
        let (x, y) = (x as usize * n, y as usize * n);
        words[x..x + n].cmp(&words[y..y + n])
    });
    o.words = perm
        .iter()
        .flat_map(|&g| {
            o.words[g as usize * n..(g as usize + 1) * n]
                .iter()
                .copied()
        })
        .collect();
    o.raw = perm.iter().map(|&g| o.raw[g as usize]).collect();
}

/// For each n-gram of the order below `above`, the index of `above`'s n-grams by their
/// suffix (all but the first word), walked in step with `below` (sorted): `f(g, h)` for
/// every n-gram h above whose suffix is n-gram g below.
fn join_suffixes(below: &Order, above: &Order, mut f: impl FnMut(usize, usize)) -> Result<()> {
    let n = above.n;
    let mut perm: Vec<u32> = (0..above.len() as u32).collect();
    let words = &above.words;
    perm.par_sort_by(|&x, &y| {
        let (x, y) = (x as usize * n, y as usize * n);
        words[x + 1..x + n].cmp(&words[y + 1..y + n])
    });
    let mut g = 0;
    for &h in &perm {
        let suffix = &above.gram(h as usize)[1..];
        while g < below.len() && below.gram(g) < suffix {
            g += 1;
        }
        if g == below.len() || below.gram(g) != suffix {
            return Err(CoreError::invalid(
                "counts",
                "inconsistent tables: a suffix is missing",
            ));
        }
        f(g, h as usize);
    }
    Ok(())
}

/// The continuation counts of `below`'s n-grams: how many n-grams of `above` extend each
/// on the left.
fn continuation(below: &Order, above: &Order) -> Result<Vec<u64>> {
    let mut cont = vec![0u64; below.len()];
    join_suffixes(below, above, |g, _| cont[g] += 1)?;
    Ok(cont)
}

/// The sums of a context and of its pruned n-grams, as 8 numbers of a record.
fn sums_values(s: &Sums, pruned: &Sums) -> [u64; 8] {
    let c = |s: &Sums, k: usize| s.classes[k] as u64;
    [
        s.total,
        c(s, 0),
        c(s, 1),
        c(s, 2),
        pruned.total,
        c(pruned, 0),
        c(pruned, 1),
        c(pruned, 2),
    ]
}

/// A class size read back (a sum of u32 class sizes over groups: a context has fewer
/// than 2^32 extensions, as an order has fewer than 2^32 n-grams).
fn class(v: u64) -> u32 {
    v.min(u32::MAX as u64) as u32
}

fn values_sums(v: &[u64; 10]) -> (Sums, Sums) {
    (
        Sums {
            total: v[0],
            classes: [class(v[1]), class(v[2]), class(v[3])],
        },
        Sums {
            total: v[4],
            classes: [class(v[5]), class(v[6]), class(v[7])],
        },
    )
}

fn add_sums(a: &mut Sums, b: &Sums) {
    a.total += b.total;
    for k in 0..3 {
        a.classes[k] += b.classes[k];
    }
}

/// Count the text files of `paths` and write the model of `smoothing` as ARPA to `out`,
/// within `budget`. `check` runs between steps (return an error to stop). Returns the
/// number of n-grams of each order written.
pub fn estimate_to_arpa(
    order: usize,
    paths: &[PathBuf],
    smoothing: &Smoothing,
    budget: &Budget,
    out: &Path,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<Written> {
    super::check_order(order)?;
    smoothing.validate(order)?;
    if !smoothing.method.interpolated() {
        return Err(CoreError::invalid(
            "smoothing",
            format!(
                "estimation within a memory budget supports the interpolated methods \
                 (modified_kneser_ney, kneser_ney, absolute, witten_bell), not {}",
                smoothing.method.name()
            ),
        ));
    }
    budget.check()?;
    let mut temp = TempFiles::new(&budget.temp_dir);
    let mut counts = NGramCounts::new(order)?;
    let mut runs = Vec::new();
    for path in paths {
        for_each_chunk(path, budget.text_bytes(), &mut |text| {
            counts.add_lines(text.lines())?;
            if counts.table_bytes() > budget.table_bytes() {
                runs.push(spill_partitioned(&mut counts, &mut temp)?);
            }
            check()
        })?;
    }
    if counts.tokens() == 0 {
        return Err(CoreError::invalid(
            "corpus",
            "is empty: no sentence has a token",
        ));
    }
    runs.push(spill_partitioned(&mut counts, &mut temp)?);
    let job = Job {
        order,
        smoothing,
        runs,
        vocab_size: counts.vocab().len(),
    };
    let groups = plan_groups(&job, budget);
    let estimates = pass_a(&job, &counts, &groups, &mut temp, check)?;
    let probs = pass_b(&job, &groups, &estimates, &mut temp, check)?;
    let written = write(&job, &counts, &estimates, &probs, out, check)?;
    Ok(written)
}

/// Consecutive partitions whose n-grams fit half the budget together (a partition too
/// large alone makes a group of its own).
fn plan_groups(job: &Job, budget: &Budget) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = vec![Vec::new()];
    let mut bytes = 0u64;
    for q in 0..PARTITIONS {
        let size: u64 = job
            .runs
            .iter()
            .flat_map(|r| (2..=job.order).map(move |n| r.sections[q][n].1 * (4 * n as u64)))
            .sum::<u64>()
            + job
                .runs
                .iter()
                .flat_map(|r| (2..=job.order).map(move |n| r.sections[q][n].1))
                .sum::<u64>()
                * GROUP_BYTES_PER_NGRAM;
        if bytes > 0 && bytes + size > budget.bytes / 2 {
            groups.push(Vec::new());
            bytes = 0;
        }
        if let Some(g) = groups.last_mut() {
            g.push(q);
        }
        bytes += size;
    }
    groups
}

/// What pass A finds: the estimation counts of the unigrams, the discounts of every order,
/// and what the contexts of every order give (sorted files; the unigrams' one context in
/// memory).
struct Estimates {
    a1: Vec<u64>,
    discounts: Vec<[f64; 3]>,
    unigram_sums: Sums,
    /// `bows[m]`: (file, records) of (context of order m, log10 γ as bits), m >= 1.
    bows: Vec<(PathBuf, u64)>,
    /// `needed[group][m]`: (file, records) of (context of order m, total, class sizes, γ
    /// as bits) for the contexts of order m that the group's n-grams extend.
    needed: Vec<Vec<(PathBuf, u64)>>,
}

fn threshold(smoothing: &Smoothing, n: usize) -> u64 {
    smoothing.min_counts.get(n - 1).copied().unwrap_or(0)
}

fn pass_a(
    job: &Job,
    counts: &NGramCounts,
    groups: &[Vec<usize>],
    temp: &mut TempFiles,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<Estimates> {
    let order = job.order;
    let mut t = vec![[0u64; 5]; order + 1];
    let mut cont1 = vec![0u64; job.vocab_size];
    // Per context order m: the groups' sorted sums files.
    let mut parts: Vec<Vec<(PathBuf, u64)>> = vec![Vec::new(); order];
    for group in groups {
        let orders = job.load(group, &mut cont1, check)?;
        for n in 2..=order {
            let o = &orders[n];
            let tn = counts_of_counts(&o.a);
            for k in 0..5 {
                t[n][k] += tn[k];
            }
            let thr = threshold(job.smoothing, n);
            let mut file = Records::create(temp, "sums")?;
            let mut g = 0;
            while g < o.len() {
                let ctx = &o.gram(g)[..n - 1];
                let (mut s, mut pruned) = (Sums::default(), Sums::default());
                while g < o.len() && &o.gram(g)[..n - 1] == ctx {
                    let x = o.a[g];
                    if x > 0 {
                        s.add(x);
                        if o.raw[g] < thr {
                            pruned.add(x);
                        }
                    }
                    g += 1;
                }
                if s.items() > 0 {
                    file.put(ctx, &sums_values(&s, &pruned))?;
                }
            }
            parts[n - 1].push(file.finish()?);
        }
        check()?;
    }
    // The unigrams, over the whole vocabulary.
    let mut a1 = if job.smoothing.method.adjusted() && order >= 2 {
        let mut a = cont1;
        a[BOS as usize] = counts.raw_counts(1)[BOS as usize];
        a
    } else {
        counts.raw_counts(1).to_vec()
    };
    a1.resize(job.vocab_size, 0);
    a1[BOS as usize] = 0;
    t[1] = counts_of_counts(&a1);
    let mut unigram_sums = Sums::default();
    for &x in &a1 {
        if x > 0 {
            unigram_sums.add(x);
        }
    }
    let mut discounts = vec![[0.0; 3]; order + 1];
    for n in 1..=order {
        discounts[n] = order_discounts(job.smoothing, &t[n], n)?;
    }
    // Each context order's sums, added up over the groups: the backoffs for the ARPA file,
    // and for each group the contexts its n-grams extend (those its sums came from).
    let v = (job.vocab_size - 1) as f64;
    let mut bows = vec![(PathBuf::new(), 0u64); order];
    let mut needed = vec![vec![(PathBuf::new(), 0u64); order]; groups.len()];
    for m in 1..order {
        let mut heads = Vec::with_capacity(parts[m].len());
        for (path, count) in &parts[m] {
            heads.push(Head::new(Reader::open(path, 0, *count, m, 8)?)?);
        }
        let mut all = Records::create(temp, "bows")?;
        let mut each = Vec::with_capacity(groups.len());
        for _ in groups {
            each.push(Records::create(temp, "contexts")?);
        }
        let d = &discounts[m + 1];
        merge_streams(&mut heads, m, check, &mut |words, values| {
            let (mut s, mut pruned) = (Sums::default(), Sums::default());
            for (_, v) in values {
                let (a, b) = values_sums(v);
                add_sums(&mut s, &a);
                add_sums(&mut pruned, &b);
            }
            let gm = gamma(job.smoothing, d, v, &s, &pruned);
            all.put(words, &[log10(gm).to_bits()])?;
            for &(g, _) in values {
                let c = |k: usize| s.classes[k] as u64;
                each[g].put(words, &[s.total, c(0), c(1), c(2), gm.to_bits()])?;
            }
            Ok(())
        })?;
        drop(heads);
        for (path, _) in &parts[m] {
            temp.remove(path);
        }
        bows[m] = all.finish()?;
        for (g, file) in each.into_iter().enumerate() {
            needed[g][m] = file.finish()?;
        }
    }
    Ok(Estimates {
        a1,
        discounts,
        unigram_sums,
        bows,
        needed,
    })
}

/// The discounts of order n from its counts-of-counts `t`, as the in-memory estimator.
fn order_discounts(smoothing: &Smoothing, t: &[u64; 5], n: usize) -> Result<[f64; 3]> {
    Ok(match smoothing.method {
        Method::ModifiedKneserNey => mkn_discounts(t, n, smoothing.discount_fallback)?,
        Method::KneserNey | Method::Absolute => {
            let d = match smoothing.discount {
                Some(d) => d,
                None => single_discount(t, n, smoothing.discount_fallback)?,
            };
            [d; 3]
        }
        _ => [0.0; 3],
    })
}

/// What pass B leaves: the unigram probabilities, and per order n >= 2 the groups' sorted
/// files of (n-gram, log10 p) for the n-grams kept, with how many.
struct Probabilities {
    unigrams: Vec<f64>,
    files: Vec<Vec<(PathBuf, u64)>>,
}

fn pass_b(
    job: &Job,
    groups: &[Vec<usize>],
    est: &Estimates,
    temp: &mut TempFiles,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<Probabilities> {
    let (order, sm) = (job.order, job.smoothing);
    let v = (job.vocab_size - 1) as f64;
    let none = Sums::default();
    let g0 = gamma(sm, &est.discounts[1], v, &est.unigram_sums, &none);
    let mut p1 = vec![f64::NAN; job.vocab_size];
    for (w, p) in p1.iter_mut().enumerate() {
        let x = est.a1[w];
        if x > 0 {
            *p = alpha(sm, &est.discounts[1], v, x, &est.unigram_sums) + g0 * (1.0 / v);
        } else if w != BOS as usize {
            *p = g0 / v;
        }
    }
    p1[BOS as usize] = 1.0;
    let mut files: Vec<Vec<(PathBuf, u64)>> = vec![Vec::new(); order + 1];
    let mut scratch = vec![0u64; job.vocab_size];
    for (gi, group) in groups.iter().enumerate() {
        let orders = job.load(group, &mut scratch, check)?;
        let mut below: Vec<f64> = Vec::new();
        for n in 2..=order {
            let o = &orders[n];
            let d = &est.discounts[n];
            // The probability of each n-gram's suffix: unigrams by word, else from below.
            let lower: Vec<f64> = if n == 2 {
                (0..o.len()).map(|g| p1[o.gram(g)[1] as usize]).collect()
            } else {
                let mut l = vec![0.0; o.len()];
                join_suffixes(&orders[n - 1], o, |s, h| l[h] = below[s])?;
                l
            };
            let (path, count) = &est.needed[gi][n - 1];
            let mut contexts = Head::new(Reader::open(path, 0, *count, n - 1, 5)?)?;
            let thr = threshold(sm, n);
            let mut p = vec![f64::NAN; o.len()];
            let mut file = Records::create(temp, "probs")?;
            let mut current: Option<(Sums, f64)> = None;
            for g in 0..o.len() {
                let gram = o.gram(g);
                let ctx = &gram[..n - 1];
                if g == 0 || o.gram(g - 1)[..n - 1] != *ctx {
                    current = None;
                    while contexts.live && contexts.words[..n - 1] < *ctx {
                        contexts.advance()?;
                    }
                    if contexts.live && contexts.words[..n - 1] == *ctx {
                        let c = &contexts.values;
                        let s = Sums {
                            total: c[0],
                            classes: [class(c[1]), class(c[2]), class(c[3])],
                        };
                        current = Some((s, f64::from_bits(c[4])));
                    }
                }
                let x = o.a[g];
                if x > 0 && o.raw[g] >= thr {
                    let Some((s, gm)) = current.as_ref() else {
                        return Err(CoreError::invalid(
                            "counts",
                            "inconsistent tables: a context's sums are missing",
                        ));
                    };
                    p[g] = alpha(sm, d, v, x, s) + gm * lower[g];
                    file.put(gram, &[log10(p[g]).to_bits()])?;
                }
            }
            files[n].push(file.finish()?);
            below = p;
            check()?;
        }
    }
    Ok(Probabilities {
        unigrams: p1,
        files,
    })
}

/// Write the ARPA file: the header, then each order's n-grams merged from the groups'
/// files in sorted order, each with the backoff of its context sums.
fn write(
    job: &Job,
    counts: &NGramCounts,
    est: &Estimates,
    probs: &Probabilities,
    out: &Path,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<Written> {
    let order = job.order;
    let mut written: Written = vec![job.vocab_size as u64];
    for n in 2..=order {
        written.push(probs.files[n].iter().map(|(_, c)| c).sum());
    }
    let words = counts.vocab().words();
    let mut failure: Option<CoreError> = None;
    let result = write_atomically(out, |file| {
        let mut body = || -> Result<()> {
            let io = |e: std::io::Error| CoreError::io(out, e);
            let mut head = String::from("\\data\\\n");
            for (n, c) in written.iter().enumerate() {
                head.push_str(&format!("ngram {}={c}\n", n + 1));
            }
            file.write_all(head.as_bytes()).map_err(io)?;
            let mut line: Vec<u8> = Vec::with_capacity(256);
            for n in 1..=order {
                file.write_all(format!("\n\\{n}-grams:\n").as_bytes())
                    .map_err(io)?;
                // The backoffs: this order's n-grams as contexts.
                let mut bows = if n < order {
                    let (path, count) = &est.bows[n];
                    Some(Head::new(Reader::open(path, 0, *count, n, 1)?)?)
                } else {
                    None
                };
                let mut bow_of = |gram: &[u32]| -> Result<f64> {
                    let Some(b) = bows.as_mut() else {
                        return Ok(0.0);
                    };
                    while b.live && b.words[..n] < *gram {
                        b.advance()?;
                    }
                    if b.live && b.words[..n] == *gram {
                        return Ok(f64::from_bits(b.values[0]));
                    }
                    Ok(0.0)
                };
                let mut emit = |gram: &[u32], prob: f64, line: &mut Vec<u8>| -> Result<()> {
                    line.clear();
                    push_number(line, prob);
                    line.push(b'\t');
                    for (i, &w) in gram.iter().enumerate() {
                        if i > 0 {
                            line.push(b' ');
                        }
                        line.extend_from_slice(words[w as usize].as_bytes());
                    }
                    if n < order {
                        line.push(b'\t');
                        push_number(line, bow_of(gram)?);
                    }
                    line.push(b'\n');
                    file.write_all(line).map_err(io)
                };
                if n == 1 {
                    for (w, &p) in probs.unigrams.iter().enumerate() {
                        emit(&[w as u32], log10(p), &mut line)?;
                    }
                    continue;
                }
                let mut heads = Vec::with_capacity(probs.files[n].len());
                for (path, count) in &probs.files[n] {
                    heads.push(Head::new(Reader::open(path, 0, *count, n, 1)?)?);
                }
                merge_streams(&mut heads, n, check, &mut |gram, values| {
                    emit(gram, f64::from_bits(values[0].1[0]), &mut line)
                })?;
            }
            file.write_all(b"\n\\end\\\n").map_err(io)
        };
        body().map_err(|e| {
            let message = e.to_string();
            failure = Some(e);
            std::io::Error::other(message)
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    result?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::arpa::write_arpa;
    use crate::ngram::estimate::estimate;

    fn corpus(path: &Path, lines: usize) {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut text = String::new();
        for _ in 0..lines {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 12) as usize;
            for j in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Frequent and rare words, as in text.
                let w = if j % 3 == 0 { x % 20 } else { x % 2000 };
                text.push_str(&format!("w{w} "));
            }
            text.push('\n');
        }
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_same_arpa_as_in_memory_for_every_interpolated_method() {
        let dir = std::env::temp_dir().join(format!("rnnrs-external-{}", std::process::id()));
        let temp = dir.join("tmp");
        std::fs::create_dir_all(&temp).unwrap();
        let text = dir.join("corpus.txt");
        corpus(&text, 25_000);
        let budget = Budget {
            bytes: super::super::spill::MIN_BUDGET,
            temp_dir: temp.clone(),
        };
        let mut counts = NGramCounts::new(4).unwrap();
        counts.add_file(&text).unwrap();
        let cases = [
            (Method::ModifiedKneserNey, vec![]),
            (Method::ModifiedKneserNey, vec![0, 1, 2, 3]),
            (Method::KneserNey, vec![]),
            (Method::Absolute, vec![0, 2, 2, 2]),
            (Method::WittenBell, vec![]),
        ];
        for (method, min_counts) in cases {
            let mut smoothing = Smoothing::new(method);
            smoothing.min_counts = min_counts;
            smoothing.discount_fallback = true;
            let free = dir.join("free.arpa");
            write_arpa(&estimate(&counts, &smoothing).unwrap(), &free).unwrap();
            let bounded = dir.join("bounded.arpa");
            let mut groups = 0;
            let n = estimate_to_arpa(
                4,
                std::slice::from_ref(&text),
                &smoothing,
                &budget,
                &bounded,
                &mut || {
                    groups += 1;
                    Ok(())
                },
            )
            .unwrap();
            let (a, b) = (
                std::fs::read(&free).unwrap(),
                std::fs::read(&bounded).unwrap(),
            );
            assert!(a == b, "{method:?}: the files differ");
            assert_eq!(n[0], counts.vocab().len() as u64);
            assert!(groups > 10, "several chunks and groups ({groups})");
            assert_eq!(
                std::fs::read_dir(&temp).unwrap().count(),
                0,
                "temp files left"
            );
        }
        let mle = Smoothing::new(Method::Mle);
        let err = estimate_to_arpa(4, &[text], &mle, &budget, &dir.join("x"), &mut || Ok(()));
        assert!(err.unwrap_err().to_string().contains("interpolated"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
