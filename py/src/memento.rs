//! The slot layout of a jump (memento) placement, which pickles, copies and
//! `==` must carry: unlike the other algorithms, where a key goes depends on
//! the history of adds and removes (which slot each node holds, and the
//! order in which the free slots were freed), not only on the set of nodes.
//!
//! The history is saved as `(slots, freed)`: `slots[i]` is `(name, up)` for
//! the node in slot `i` or `None` for a free one, and `freed` lists the free
//! slots in the order they were freed. Replaying it on an empty cluster
//! (fill every slot in order, the free ones with placeholders, then remove
//! the placeholders in `freed` order) gives back the same node table and the
//! same memento state, so every key routes the same and future adds take
//! the same slots.
//!
//! The node table's free list is a stack mirrored by memento's removed
//! stack, except for slots freed while nothing else was removed, which
//! shrink jump's bucket count instead of being remembered. Those trailing
//! slots were freed before every remembered one, highest first; so the free
//! order is: trailing free slots descending, then memento's removed stack
//! oldest first.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use ringroute::router::AnyPlacement;
use ringroute::{NodeIndex, NodeTable};

use crate::nodes::{Name, name_spec};

/// A jump placement's layout: each slot's name and up flag (`None` when
/// free), and the free slots in the order they were freed.
pub type Layout<'a> = (Vec<Option<(&'a [u8], bool)>>, Vec<u32>);

/// A jump placement's layout, comparable: the name in each slot and the
/// order the free slots were freed. `None` for the other algorithms.
///
/// `up` says whether a member is up by hand: a `Ring` keeps that in its
/// table, a `Router` in its snapshot's health.
pub fn layout<'a>(
    table: &'a NodeTable<Name>,
    placement: &AnyPlacement,
    up: &dyn Fn(NodeIndex) -> bool,
) -> Option<Layout<'a>> {
    let jump = placement.as_jump()?;
    let slots: Vec<_> = (0..table.capacity())
        .map(|i| {
            let node = NodeIndex::new(i as u32);
            table.get(node).map(|n| (n.name(), up(node)))
        })
        .collect();
    let buckets = jump.buckets() as usize;
    let mut freed: Vec<u32> = (buckets..slots.len())
        .rev()
        .filter(|&i| slots[i].is_none())
        .map(|i| i as u32)
        .collect();
    freed.extend(jump.removed().map(|i| i.get()));
    Some((slots, freed))
}

/// The layout as a Python value for `__reduce__`: `([(name, up) | None,
/// ...], [slot, ...])`, or `None` when there is nothing to save: another
/// algorithm, or no free slot (the order of the nodes then says it all).
pub fn to_py<'py>(
    py: Python<'py>,
    table: &NodeTable<Name>,
    placement: &AnyPlacement,
    up: &dyn Fn(NodeIndex) -> bool,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let Some((slots, freed)) = layout(table, placement, up) else {
        return Ok(None);
    };
    if freed.is_empty() {
        return Ok(None);
    }
    let items = (0..slots.len())
        .map(|i| match table.get(NodeIndex::new(i as u32)) {
            Some(n) => PyTuple::new(
                py,
                [
                    n.payload().bind(py).clone().into_any(),
                    pyo3::types::PyBool::new(py, up(NodeIndex::new(i as u32)))
                        .to_owned()
                        .into_any(),
                ],
            )
            .map(Bound::into_any),
            None => Ok(py.None().into_bound(py)),
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Some(PyTuple::new(
        py,
        [
            PyList::new(py, items)?.into_any(),
            PyList::new(py, freed)?.into_any(),
        ],
    )?))
}

/// One slot of a saved layout.
pub struct Slot {
    /// The name's UTF-8 bytes, and the name object.
    pub node: Option<(Vec<u8>, Name)>,
    /// Whether the node is up.
    pub up: bool,
}

/// A saved layout read back, checked: `freed` lists every free slot once.
pub struct History {
    /// Every slot, in order.
    pub slots: Vec<Slot>,
    /// The free slots in the order they were freed.
    pub freed: Vec<u32>,
}

fn bad(what: &str) -> PyErr {
    PyValueError::new_err(format!("bad jump placement history in pickle: {what}"))
}

/// Reads what [`to_py`] produced.
pub fn from_py(value: &Bound<'_, PyAny>) -> PyResult<History> {
    let (slots, freed): (Bound<'_, PyAny>, Vec<u32>) =
        value.extract().map_err(|_| bad("not (slots, freed)"))?;
    let mut out = Vec::new();
    for slot in slots.try_iter()? {
        let slot = slot?;
        if slot.is_none() {
            out.push(Slot {
                node: None,
                up: false,
            });
            continue;
        }
        let (name, up): (Bound<'_, PyAny>, bool) = slot
            .extract()
            .map_err(|_| bad("a slot is not (name, up)"))?;
        out.push(Slot {
            node: Some(name_spec(&name)?),
            up,
        });
    }
    let mut seen = vec![false; out.len()];
    for &i in &freed {
        let i = i as usize;
        if i >= out.len() || out[i].node.is_some() || std::mem::replace(&mut seen[i], true) {
            return Err(bad("freed slots do not match the free slots"));
        }
    }
    if seen
        .iter()
        .zip(&out)
        .any(|(s, slot)| !s && slot.node.is_none())
    {
        return Err(bad("a free slot is missing from the freed order"));
    }
    Ok(History { slots: out, freed })
}

/// The placeholder name of free slot `i` while a layout is replayed: not
/// UTF-8 (0xFF never occurs in UTF-8), so no `str` name can be equal to it.
pub fn hole_name(i: u32) -> Vec<u8> {
    let mut name = vec![0xFF, b'h'];
    name.extend_from_slice(&i.to_le_bytes());
    name
}

/// The payload of a placeholder (never seen: placeholders are removed).
pub fn hole_payload(py: Python<'_>) -> Name {
    Name(std::sync::Arc::new(PyString::new(py, "").unbind()))
}

/// Checks that a replayed table has every node in its saved slot.
pub fn check_slots(history: &History, table: &NodeTable<Name>) -> PyResult<()> {
    for (i, slot) in history.slots.iter().enumerate() {
        let here = table.get(NodeIndex::new(i as u32)).map(|n| n.name());
        let want = slot.node.as_ref().map(|(b, _)| &b[..]);
        if here != want {
            return Err(bad("replay did not reproduce the slots"));
        }
    }
    Ok(())
}
