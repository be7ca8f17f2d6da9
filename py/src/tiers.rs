//! Tiers for `ringroute.Router`: reading tier numbers, the `tiers` mapping
//! and the spill policy, and describing them back for `repr` and pickling.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};
use ringroute::router::{Snapshot, TierPolicy};

use crate::keys::{name_of, str_bytes, type_name};
use crate::nodes::{Name, weight_of};

/// A tier: an `int` in `0..2**32` (0 = primary, 1 = first backup, ...).
pub fn tier_of(tier: &Bound<'_, PyAny>) -> PyResult<u32> {
    if !tier.is_instance_of::<PyInt>() || tier.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "a tier must be an int, not {}",
            type_name(tier)
        )));
    }
    tier.extract::<u32>().map_err(|_| {
        PyValueError::new_err(format!(
            "a tier must be between 0 and 4294967295, got {tier}"
        ))
    })
}

/// The `tiers` argument: a mapping `{name: tier}` (nodes not in it are
/// primaries, tier 0).
pub fn parse_tiers(tiers: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(Vec<u8>, u32)>> {
    let Some(tiers) = tiers.filter(|t| !t.is_none()) else {
        return Ok(Vec::new());
    };
    let dict = tiers.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "tiers must be a dict of node name to tier, not {}",
            type_name(tiers)
        ))
    })?;
    dict.iter()
        .map(|(name, tier)| Ok((str_bytes(name_of(&name)?)?.to_vec(), tier_of(&tier)?)))
        .collect()
}

/// The spill policy: `"strict"` (nginx `backup`) or `"proportional"`
/// (Envoy priority levels, with `overprovisioning`, default 1.4).
pub fn parse_policy(
    policy: &str,
    overprovisioning: Option<&Bound<'_, PyAny>>,
) -> PyResult<TierPolicy> {
    let factor = overprovisioning
        .filter(|f| !f.is_none())
        .map(|f| {
            weight_of(f).map_err(|_| {
                PyTypeError::new_err(format!(
                    "overprovisioning must be a number, not {}",
                    type_name(f)
                ))
            })
        })
        .transpose()?;
    match (policy, factor) {
        ("strict", None) => Ok(TierPolicy::Strict),
        ("strict", Some(_)) => Err(PyValueError::new_err(
            "overprovisioning applies to tier_policy='proportional' only",
        )),
        ("proportional", f) => Ok(TierPolicy::Proportional {
            overprovisioning: f.unwrap_or(TierPolicy::DEFAULT_OVERPROVISIONING),
        }),
        (other, _) => Err(PyValueError::new_err(format!(
            "unknown tier_policy {other:?} (expected 'strict' or 'proportional')"
        ))),
    }
}

/// The policy's name and its factor, if any.
pub fn describe(policy: &TierPolicy) -> (&'static str, Option<f64>) {
    match *policy {
        TierPolicy::Proportional { overprovisioning } => ("proportional", Some(overprovisioning)),
        _ => ("strict", None),
    }
}

/// The nodes outside tier 0, by name, in index order.
pub fn backups_of(snapshot: &Snapshot<Name>) -> Vec<(Name, u32)> {
    snapshot
        .nodes()
        .iter()
        .filter(|(_, n)| n.tier() != 0)
        .map(|(_, n)| (n.payload().clone(), n.tier()))
        .collect()
}

/// `{name: tier}` for `nodes`.
pub fn tiers_dict<'py>(py: Python<'py>, nodes: &[(Name, u32)]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, tier) in nodes {
        dict.set_item(name.bind(py), *tier)?;
    }
    Ok(dict)
}

/// `{'b': 1, ...}` for a repr.
pub fn repr_tiers(py: Python<'_>, nodes: &[(Name, u32)]) -> PyResult<String> {
    let parts: PyResult<Vec<String>> = nodes
        .iter()
        .map(|(name, tier)| {
            let name: &Bound<'_, PyString> = name.bind(py);
            Ok(format!("{}: {tier}", name.repr()?))
        })
        .collect();
    Ok(format!("{{{}}}", parts?.join(", ")))
}
