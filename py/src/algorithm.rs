//! The `algorithm=`, `vnodes=` and `table_size=` options: which sticky
//! placement to use; and the router's `picker=` for requests without a key.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyInt;
use ringroute::place::compat::{Libmemcached, Mode, Uhashring};
use ringroute::router::{Algorithm, PickerKind};

use crate::keys::type_name;

/// Names accepted by `algorithm=`, in the order the docs list them.
pub const ALGORITHMS: &[&str] = &["ring", "jump", "rendezvous", "maglev", "jumpback"];

/// Compatibility modes accepted by `algorithm=` (with their peer's default
/// settings), beside [`ALGORITHMS`]: route bit for bit as that peer does.
pub const COMPAT_MODES: &[&str] = &[
    "libmemcached",
    "libmemcached-unweighted",
    "libmemcached-spy",
    "twemproxy",
    "uhashring",
    "uhashring-ketama",
    "envoy-ring-hash",
    "grpc-ring-hash",
    "envoy-maglev",
    "nginx",
    "dubbo",
    "guava-jump",
    "go-jump",
];

/// The core mode of a [`COMPAT_MODES`] name.
fn compat_mode(name: &str) -> Option<Mode> {
    Some(match name {
        "libmemcached-unweighted" => Mode::Libmemcached(Libmemcached::unweighted()),
        "libmemcached-spy" => Mode::Libmemcached(Libmemcached {
            spy: true,
            ..Libmemcached::weighted()
        }),
        "uhashring-ketama" => Mode::Uhashring(Uhashring::ketama()),
        other => Mode::from_name(other)?,
    })
}

/// The [`COMPAT_MODES`] name of a mode; modes with settings no name
/// stands for show as their family.
fn compat_name(mode: &Mode) -> &'static str {
    match mode {
        Mode::Libmemcached(l) if l.spy => "libmemcached-spy",
        Mode::Libmemcached(l) if !l.weighted => "libmemcached-unweighted",
        Mode::Uhashring(u) if u.ketama => "uhashring-ketama",
        other => other.name(),
    }
}

/// Names accepted by `picker=`.
pub const PICKERS: &[&str] = &[
    "least_connections",
    "least_response_time",
    "weighted_random",
    "round_robin",
    "smooth_weighted",
];

/// A non-negative integer option that fits a `u32` (a `bool` is refused).
pub fn u32_option(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u32> {
    if !value.is_instance_of::<PyInt>() || value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {}",
            type_name(value)
        )));
    }
    value
        .extract::<i64>()
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| PyValueError::new_err(format!("{what} out of range: {value}")))
}

fn one_of(what: &str, given: &str, names: &[&str]) -> PyErr {
    PyValueError::new_err(format!(
        "unknown {what} {given:?}: expected one of {}",
        names
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn given<'a, 'py>(value: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    value.filter(|v| !v.is_none())
}

/// Builds the core's [`Algorithm`] from the Python options.
///
/// `vnodes` applies to `"ring"` only (default 160), `table_size` to
/// `"maglev"` only (a prime, default 65537); giving either with another
/// algorithm is a `ValueError` rather than silently ignored.
pub fn parse(
    algorithm: &str,
    vnodes: Option<&Bound<'_, PyAny>>,
    table_size: Option<&Bound<'_, PyAny>>,
) -> PyResult<Algorithm> {
    let vnodes = given(vnodes).map(|v| u32_option(v, "vnodes")).transpose()?;
    let table_size = given(table_size)
        .map(|v| u32_option(v, "table_size"))
        .transpose()?;
    if vnodes.is_some() && algorithm != "ring" {
        return Err(PyValueError::new_err(format!(
            "vnodes applies to algorithm='ring', not {algorithm:?}"
        )));
    }
    if table_size.is_some() && algorithm != "maglev" {
        return Err(PyValueError::new_err(format!(
            "table_size applies to algorithm='maglev', not {algorithm:?}"
        )));
    }
    let algorithm = match algorithm {
        "ring" => Algorithm::Ring {
            vnodes: vnodes.unwrap_or(ringroute::place::ring::DEFAULT_VNODES),
        },
        "jump" => Algorithm::Jump,
        "jumpback" => Algorithm::JumpBack,
        "rendezvous" => Algorithm::Rendezvous,
        "maglev" => Algorithm::Maglev {
            table_size: table_size.unwrap_or(ringroute::place::maglev::DEFAULT_TABLE_SIZE),
        },
        other => match compat_mode(other) {
            Some(mode) => Algorithm::Compat(mode),
            None => {
                let all: Vec<&str> = ALGORITHMS.iter().chain(COMPAT_MODES).copied().collect();
                return Err(one_of("algorithm", other, &all));
            }
        },
    };
    // Validates the parameters (vnodes range, a prime table, ...).
    algorithm.placement().map_err(crate::errors::to_py)?;
    Ok(algorithm)
}

/// How an algorithm shows in Python: its name, `vnodes` (ring) and
/// `table_size` (maglev).
pub struct Described {
    /// The `algorithm=` name.
    pub name: &'static str,
    /// `vnodes=` of the ring.
    pub vnodes: Option<u32>,
    /// `table_size=` of Maglev.
    pub table_size: Option<u32>,
}

/// The Python name and parameters of an algorithm.
pub fn describe(algorithm: &Algorithm) -> Described {
    let (name, vnodes, table_size) = match algorithm {
        Algorithm::Ring { vnodes } => ("ring", Some(*vnodes), None),
        Algorithm::Jump => ("jump", None, None),
        Algorithm::JumpBack => ("jumpback", None, None),
        Algorithm::Rendezvous => ("rendezvous", None, None),
        Algorithm::Maglev { table_size } => ("maglev", None, Some(*table_size)),
        Algorithm::Compat(mode) => (compat_name(mode), None, None),
        #[allow(unreachable_patterns)]
        _ => ("unknown", None, None),
    };
    Described {
        name,
        vnodes,
        table_size,
    }
}

/// `vnodes=160` / `algorithm='maglev', table_size=65537`: the options part
/// of a repr.
pub fn repr_options(algorithm: &Algorithm) -> String {
    let d = describe(algorithm);
    match (d.name, d.vnodes, d.table_size) {
        ("ring", Some(v), _) => format!("vnodes={v}"),
        (name, _, Some(t)) => format!("algorithm='{name}', table_size={t}"),
        (name, _, _) => format!("algorithm='{name}'"),
    }
}

/// Adds `algorithm`, `vnodes` and `table_size` to pickling kwargs.
pub fn to_kwargs(algorithm: &Algorithm, kwargs: &Bound<'_, pyo3::types::PyDict>) -> PyResult<()> {
    let d = describe(algorithm);
    kwargs.set_item("algorithm", d.name)?;
    if let Some(v) = d.vnodes {
        kwargs.set_item("vnodes", v)?;
    }
    if let Some(t) = d.table_size {
        kwargs.set_item("table_size", t)?;
    }
    Ok(())
}

/// Builds the core's [`PickerKind`]: `picker` is one of [`PICKERS`];
/// `ewma_decay` (seconds) applies to `"least_response_time"` only.
pub fn parse_picker(picker: &str, ewma_decay: Option<Duration>) -> PyResult<PickerKind> {
    if ewma_decay.is_some() && picker != "least_response_time" {
        return Err(PyValueError::new_err(format!(
            "ewma_decay applies to picker='least_response_time', not {picker:?}"
        )));
    }
    Ok(match picker {
        "least_connections" => PickerKind::LeastConnections,
        "least_response_time" => {
            let decay = ewma_decay.unwrap_or(ringroute::pick::DEFAULT_DECAY);
            if decay.is_zero() {
                return Err(PyValueError::new_err(
                    "ewma_decay must be greater than zero",
                ));
            }
            PickerKind::LeastResponseTime { decay }
        }
        "weighted_random" => PickerKind::WeightedRandom,
        "round_robin" => PickerKind::RoundRobin,
        "smooth_weighted" => PickerKind::SmoothWeighted,
        other => return Err(one_of("picker", other, PICKERS)),
    })
}

/// The Python name of a picker and its EWMA decay (least_response_time).
pub fn describe_picker(picker: &PickerKind) -> (&'static str, Option<Duration>) {
    match picker {
        PickerKind::LeastConnections => ("least_connections", None),
        PickerKind::LeastResponseTime { decay } => ("least_response_time", Some(*decay)),
        PickerKind::WeightedRandom => ("weighted_random", None),
        PickerKind::RoundRobin => ("round_robin", None),
        PickerKind::SmoothWeighted => ("smooth_weighted", None),
        #[allow(unreachable_patterns)]
        _ => ("unknown", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_reprs() {
        let ring = Algorithm::Ring { vnodes: 40 };
        assert_eq!(describe(&ring).name, "ring");
        assert_eq!(describe(&ring).vnodes, Some(40));
        assert_eq!(repr_options(&ring), "vnodes=40");
        assert_eq!(repr_options(&Algorithm::Jump), "algorithm='jump'");
        assert_eq!(
            repr_options(&Algorithm::Maglev { table_size: 251 }),
            "algorithm='maglev', table_size=251"
        );
        for kind in [
            PickerKind::LeastConnections,
            PickerKind::WeightedRandom,
            PickerKind::RoundRobin,
            PickerKind::SmoothWeighted,
        ] {
            let (name, decay) = describe_picker(&kind);
            assert_eq!(parse_picker(name, decay).unwrap(), kind);
        }
        let lrt = PickerKind::LeastResponseTime {
            decay: Duration::from_secs(3),
        };
        let (name, decay) = describe_picker(&lrt);
        assert_eq!(parse_picker(name, decay).unwrap(), lrt);
    }

    #[test]
    fn compat_names_round_trip() {
        for name in COMPAT_MODES {
            let mode = compat_mode(name).unwrap();
            assert_eq!(compat_name(&mode), *name);
            let algorithm = Algorithm::Compat(mode);
            assert_eq!(describe(&algorithm).name, *name);
        }
    }
}
