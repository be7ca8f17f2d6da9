//! The continuum behind `ringroute.compat.HashRing`, a drop-in for
//! uhashring's `HashRing`: the same md5 points, the same order, the same
//! lookups, so that every key reaches the node uhashring would give it.
//!
//! The configuration logic (node dicts, weights, `weight_fn`) stays in
//! Python (`python/ringroute/compat.py`); this type holds the points and
//! answers lookups. Two placements, as in uhashring 2.x:
//!
//! * **md5** (its default): node `n` with `vnodes × weight` points; point `w`
//!   is `md5(f"{n}-{w}")` read as a 128-bit big-endian integer. Points form
//!   a map point → node in which a later node overwrites an equal point, and
//!   dropping a node's points spares those another node overwrote.
//! * **ketama** (`hash_fn="ketama"`): node `n` with
//!   `ks = vnodes × len(nodes) × weight // Σweight` groups; group `w` gives
//!   `replicas` points, little-endian 32-bit words `0..replicas` of
//!   `md5(f"{n}-{w}")`. Rebuilt whole on every change; equal points keep
//!   their duplicates in the sorted list, and the map holds the last node.
//!
//! The same rings, built whole from a node list, are the core's
//! `ringroute::place::compat::Mode::Uhashring` (Python `algorithm="uhashring"`);
//! this type keeps uhashring's incremental, dict-shaped surface.
//!
//! Keys hash as `md5(str(key).encode())` (the first word for ketama). A
//! lookup takes the first point strictly greater than the key's hash
//! (`bisect_right`), wrapping to the first.

use std::collections::HashMap;

use parking_lot::RwLock;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use ringroute::place::compat::hashes;

use crate::keys::str_bytes;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Md5,
    Ketama { replicas: usize },
}

#[derive(Default)]
struct State {
    /// Node objects by the id the Python side gave them.
    nodes: HashMap<u32, Py<PyAny>>,
    /// Point → node id (the last writer of an equal point).
    ring: HashMap<u128, u32>,
    /// The points each node created (md5 mode), for removal.
    node_points: HashMap<u32, Vec<u128>>,
    /// Sorted points (distinct in md5 mode; with duplicates for ketama).
    keys: Vec<u128>,
    /// `ring[keys[i]]`, so a lookup reads one array.
    owners: Vec<u32>,
}

impl State {
    fn sort(&mut self, keep_duplicates: Option<Vec<u128>>) {
        let mut keys = keep_duplicates.unwrap_or_else(|| self.ring.keys().copied().collect());
        keys.sort_unstable();
        self.owners = keys.iter().map(|k| self.ring[k]).collect();
        self.keys = keys;
    }

    /// `bisect_right(keys, hash)`, wrapped to 0 at the end.
    #[inline]
    fn position(&self, hash: u128) -> usize {
        let p = self.keys.partition_point(|&k| k <= hash);
        if p == self.keys.len() { 0 } else { p }
    }

    fn node(&self, id: u32) -> &Py<PyAny> {
        &self.nodes[&id]
    }
}

/// The digest the core's uhashring mode uses too.
fn md5_of(data: &[u8]) -> [u8; 16] {
    hashes::md5(data)
}

/// The point label `f"{label}-{w}"` hashed.
fn label_digest(buf: &mut Vec<u8>, label: &[u8], w: u64) -> [u8; 16] {
    buf.clear();
    buf.extend_from_slice(label);
    buf.push(b'-');
    buf.extend_from_slice(w.to_string().as_bytes());
    md5_of(buf)
}

/// The points and lookups of a uhashring-compatible ring (internal: use
/// ``ringroute.compat.HashRing``).
#[pyclass(frozen, module = "ringroute.compat", name = "_Continuum")]
pub struct Continuum {
    mode: Mode,
    state: RwLock<State>,
}

impl Continuum {
    /// `md5(str(key).encode("utf-8"))`, as the mode reads it.
    fn hash(&self, key: &Bound<'_, PyAny>) -> PyResult<u128> {
        let digest = if key.is_exact_instance_of::<PyString>() {
            // SAFETY: just checked.
            md5_of(&str_bytes(unsafe { key.cast_unchecked::<PyString>() })?)
        } else {
            let text = key.str()?;
            md5_of(&str_bytes(&text)?)
        };
        Ok(match self.mode {
            Mode::Md5 => u128::from_be_bytes(digest),
            Mode::Ketama { .. } => u128::from(u32::from_le_bytes([
                digest[0], digest[1], digest[2], digest[3],
            ])),
        })
    }
}

/// Points a compat continuum may hold: far more than any real deployment
/// (160 vnodes x 100,000 nodes), few enough that building them cannot
/// exhaust memory and abort the interpreter (`vnodes=10**12`).
pub const MAX_POINTS: usize = 1 << 24;

/// Refuses, before any change, a configuration of more than [`MAX_POINTS`]
/// points in all (`count` points of `replicas` each per node).
fn check_points<'a>(
    counts: impl Iterator<Item = (&'a Py<PyAny>, usize)>,
    replicas: usize,
) -> PyResult<()> {
    let mut total = 0usize;
    for (node, count) in counts {
        total = total.saturating_add(count.saturating_mul(replicas));
        if total > MAX_POINTS {
            return Err(PyValueError::new_err(format!(
                "too many points: node {} brings the continuum over {MAX_POINTS} points \
                 (vnodes x weight too large)",
                Python::attach(|py| node.bind(py).repr().map(|r| r.to_string()))
                    .unwrap_or_else(|_| "?".to_owned())
            )));
        }
    }
    Ok(())
}

#[pymethods]
impl Continuum {
    /// ``_Continuum(ketama=False, replicas=4)``
    #[new]
    #[pyo3(signature = (ketama=false, replicas=4))]
    fn new(ketama: bool, replicas: usize) -> PyResult<Self> {
        if ketama && replicas > 4 {
            // uhashring indexes past the 16-byte digest: an IndexError there.
            return Err(PyValueError::new_err("ketama replicas must be at most 4"));
        }
        Ok(Continuum {
            mode: if ketama {
                Mode::Ketama { replicas }
            } else {
                Mode::Md5
            },
            state: RwLock::new(State::default()),
        })
    }

    /// ``set_nodes([(id, node, label, count), ...])`` (md5 mode): for each
    /// node in order, drops the points it created before (those it still
    /// owns) and creates ``count`` points from ``label``; then re-sorts.
    fn set_nodes(&self, entries: Vec<(u32, Py<PyAny>, String, usize)>) -> PyResult<()> {
        if self.mode != Mode::Md5 {
            return Err(PyValueError::new_err("set_nodes is for the md5 mode"));
        }
        check_points(entries.iter().map(|e| (&e.1, e.3)), 1)?;
        let mut state = self.state.write();
        let mut buf = Vec::new();
        for (id, node, label, count) in entries {
            if let Some(old) = state.node_points.remove(&id) {
                for p in old {
                    if state.ring.get(&p) == Some(&id) {
                        state.ring.remove(&p);
                    }
                }
            }
            let mut points = Vec::with_capacity(count);
            for w in 0..count as u64 {
                let p = u128::from_be_bytes(label_digest(&mut buf, label.as_bytes(), w));
                state.ring.insert(p, id);
                points.push(p);
            }
            state.node_points.insert(id, points);
            state.nodes.insert(id, node);
        }
        state.sort(None);
        Ok(())
    }

    /// ``remove_node(id)`` (md5 mode): drops the node's points that it still
    /// owns.
    fn remove_node(&self, id: u32) {
        let mut state = self.state.write();
        if let Some(old) = state.node_points.remove(&id) {
            for p in old {
                if state.ring.get(&p) == Some(&id) {
                    state.ring.remove(&p);
                }
            }
        }
        state.nodes.remove(&id);
        state.sort(None);
    }

    /// ``rebuild([(id, node, label, ks), ...])`` (ketama mode): the whole
    /// continuum from scratch, nodes in order.
    fn rebuild(&self, entries: Vec<(u32, Py<PyAny>, String, usize)>) -> PyResult<()> {
        let Mode::Ketama { replicas } = self.mode else {
            return Err(PyValueError::new_err("rebuild is for the ketama mode"));
        };
        check_points(entries.iter().map(|e| (&e.1, e.3)), replicas)?;
        let mut state = State::default();
        let mut all = Vec::new();
        let mut buf = Vec::new();
        for (id, node, label, ks) in entries {
            for w in 0..ks as u64 {
                let d = label_digest(&mut buf, label.as_bytes(), w);
                for i in 0..replicas {
                    let p = u128::from(u32::from_le_bytes([
                        d[4 * i],
                        d[4 * i + 1],
                        d[4 * i + 2],
                        d[4 * i + 3],
                    ]));
                    state.ring.insert(p, id);
                    all.push(p);
                }
            }
            state.nodes.insert(id, node);
        }
        state.sort(Some(all));
        *self.state.write() = state;
        Ok(())
    }

    /// hashi(key) -> int: the key's hash as this mode computes it.
    fn hashi(&self, key: &Bound<'_, PyAny>) -> PyResult<u128> {
        self.hash(key)
    }

    /// ketama_word(key, replica) -> int: 32-bit little-endian word
    /// ``replica`` of ``md5(str(key).encode())`` (uhashring's ketama
    /// ``hashi(key, replica)``).
    fn ketama_word(&self, key: &Bound<'_, PyAny>, replica: usize) -> PyResult<u32> {
        if replica > 3 {
            return Err(pyo3::exceptions::PyIndexError::new_err(
                "index out of range",
            ));
        }
        let text = key.str()?;
        let d = md5_of(&str_bytes(&text)?);
        let i = 4 * replica;
        Ok(u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]))
    }

    /// lookup(key): the node for ``key``, or ``None`` on an empty ring.
    fn lookup(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        let hash = self.hash(key)?;
        let state = self.state.read();
        if state.keys.is_empty() {
            return Ok(None);
        }
        let owner = state.owners[state.position(hash)];
        Ok(Some(state.node(owner).clone_ref(py)))
    }

    /// position(key) -> int: the index of the key's point in the sorted list.
    fn position(&self, key: &Bound<'_, PyAny>) -> PyResult<usize> {
        let hash = self.hash(key)?;
        Ok(self.state.read().position(hash))
    }

    /// server(key) -> (point, node) | None
    fn server<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let hash = self.hash(key)?;
        let state = self.state.read();
        if state.keys.is_empty() {
            return Ok(None);
        }
        let i = state.position(hash);
        let point = state.keys[i].into_pyobject(py)?.into_any();
        let node = state.node(state.owners[i]).bind(py).clone();
        Ok(Some(PyTuple::new(py, [point, node])?))
    }

    /// walk(key, limit, unique) -> list: nodes clockwise from the key's
    /// position (each node once when ``unique``), stopping after ``limit``
    /// of them (``None``: all), as uhashring's ``range`` visits them.
    #[pyo3(signature = (key, limit=None, unique=true))]
    fn walk<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        limit: Option<usize>,
        unique: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let hash = self.hash(key)?;
        let state = self.state.read();
        let out = PyList::empty(py);
        let len = state.keys.len();
        if len == 0 {
            return Ok(out);
        }
        let start = state.position(hash);
        let mut seen: Vec<u32> = Vec::new();
        let mut count = 0usize;
        for step in 0..len {
            let owner = state.owners[(start + step) % len];
            if unique {
                if seen.contains(&owner) {
                    continue;
                }
                seen.push(owner);
            }
            out.append(state.node(owner).bind(py))?;
            count += 1;
            if limit == Some(count) {
                break;
            }
        }
        Ok(out)
    }

    /// points() -> list[tuple[int, node]]: the sorted points with owners.
    fn points<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let state = self.state.read();
        let out = PyList::empty(py);
        for (k, o) in state.keys.iter().zip(&state.owners) {
            out.append((*k, state.node(*o).bind(py)))?;
        }
        Ok(out)
    }

    /// keys() -> list[int]: the sorted points.
    fn keys(&self) -> Vec<u128> {
        self.state.read().keys.clone()
    }

    /// ring() -> dict[int, node]: point → node.
    fn ring<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let state = self.state.read();
        let out = PyDict::new(py);
        // In sorted order: iteration order of the dict is then stable.
        let mut prev = None;
        for k in &state.keys {
            if prev == Some(*k) {
                continue;
            }
            prev = Some(*k);
            out.set_item(*k, state.node(state.ring[k]).bind(py))?;
        }
        Ok(out)
    }

    /// Number of distinct points.
    fn __len__(&self) -> usize {
        self.state.read().ring.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_uhashrings() {
        // int(md5(b"node1-0").hexdigest(), 16) and its ketama words.
        let mut buf = Vec::new();
        let d = label_digest(&mut buf, b"node1", 0);
        assert_eq!(
            u128::from_be_bytes(d),
            81200024130818730098147654587186424104
        );
        assert_eq!(u32::from_le_bytes([d[0], d[1], d[2], d[3]]), 1217271357);
        assert_eq!(u32::from_le_bytes([d[4], d[5], d[6], d[7]]), 155454371);
        assert_eq!(
            u128::from_be_bytes(md5_of(b"")),
            281949768489412648962353822266799178366
        );
    }

    #[test]
    fn lookup_is_bisect_right_wrapping() {
        let state = State {
            keys: vec![10, 20, 30],
            owners: vec![0, 1, 2],
            ..State::default()
        };
        assert_eq!(state.position(0), 0);
        assert_eq!(state.position(10), 1); // equal: strictly after
        assert_eq!(state.position(15), 1);
        assert_eq!(state.position(29), 2);
        assert_eq!(state.position(30), 0); // past the last: wrap
        assert_eq!(state.position(u128::MAX), 0);
    }
}
