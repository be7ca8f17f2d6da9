//! `ringroute.Router`: the concurrent routing handle, with leases, passive
//! outlier ejection, phi-accrual heartbeats and failover.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyIterator, PyList, PyString, PyTuple, PyType};
use ringroute::NodeIndex;
use ringroute::health::{Clock, OutlierConfig, PhiConfig};
use ringroute::router::{
    Algorithm, Change, Lease, NodeHealth, PickerKind, Router, Snapshot, TierPolicy,
};

use crate::algorithm;
use crate::common::{
    count_of, names_list, reduce_with, repr_names, repr_nodes, split_state, weights_dict, word,
};
use crate::errors::{IntoPyResult, no_route};
use crate::fast;
use crate::health::{PyManualClock, PyOutlierDetection, PyPhiAccrual};
use crate::keys::{key_bytes, name_of, route_batch, str_bytes, type_name};
use crate::lease::PyLease;
use crate::memento;
use crate::nodes::{Name, check_ring_points, name_spec, parse_names, parse_nodes, weight_of};
use crate::subclass::{bind, overrides_init};
use crate::tiers::{self, backups_of, parse_policy, parse_tiers, tier_of};

/// What a router was built with: for `repr`, `==` and pickling.
struct Settings {
    algorithm: Algorithm,
    picker: PickerKind,
    outlier: Option<OutlierConfig>,
    phi: Option<PhiConfig>,
    bounded_loads: Option<f64>,
    clock: Option<Py<PyManualClock>>,
    tier_policy: TierPolicy,
}

impl Settings {
    fn same(&self, other: &Settings) -> bool {
        self.algorithm == other.algorithm
            && self.picker == other.picker
            && self.outlier == other.outlier
            && self.phi == other.phi
            && self.bounded_loads == other.bounded_loads
            && self.tier_policy == other.tier_policy
    }
}

/// Routes keys to nodes for a client shared by many threads, and keeps
/// track of which nodes are healthy.
///
/// ``Router(nodes=(), *, vnodes=None, algorithm="ring", down=(),
/// outlier_detection=True, phi_accrual=None, bounded_loads=None,
/// clock=None)``
///
/// ``nodes``, ``vnodes``, ``algorithm`` and ``down`` are as for
/// :class:`Ring`. Lookups read an immutable snapshot and never block;
/// changes publish a new snapshot atomically.
///
/// Health: ``outlier_detection`` is on by default (``True``, or an
/// :class:`OutlierDetection`, or a dict of its settings; ``False``/``None``
/// turns it off): failed leases in a row eject a node for a while.
/// ``phi_accrual`` (off by default; ``True``, a :class:`PhiAccrual` or a
/// dict) marks nodes whose heartbeats stop as unreachable. ``bounded_loads``
/// (a factor ``c >= 1``) makes ``lease(key)`` pass a key on to its next
/// replica when its node already holds more than ``c`` times its share of
/// the requests in flight. ``clock`` (a :class:`ManualClock`) replaces the
/// monotonic clock, for tests.
///
/// Tiers: ``tiers`` maps node names to a tier (0 = primary, the default;
/// 1 = first backup, ...). While the primaries are up no key and no pick
/// reaches a backup; as they fail, traffic spills by ``tier_policy``:
/// ``"strict"`` (nginx's ``backup``: a tier serves only when no node above
/// it is up) or ``"proportional"`` (Envoy's priority levels: a tier keeps
/// ``overprovisioning`` (1.4) times its up share, the rest spills). Keys
/// stay sticky: only spilled keys move, and they come back on recovery.
#[pyclass(frozen, subclass, module = "ringroute", name = "Router")]
pub struct PyRouter {
    router: Router<Name>,
    settings: Settings,
}

/// An argument whose absence differs from an explicit `None`.
pub enum Arg<'py> {
    /// Not given: the default applies.
    Missing,
    /// Given, possibly as `None`.
    Given(Bound<'py, PyAny>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Arg<'py> {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Arg::Given(obj.to_owned()))
    }
}

fn outlier_setting(value: Arg<'_>) -> PyResult<Option<OutlierConfig>> {
    let Arg::Given(value) = value else {
        return Ok(Some(OutlierConfig::default()));
    };
    let value = &value;
    if value.is_none() {
        return Ok(None);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(b.is_true().then(OutlierConfig::default));
    }
    if let Ok(o) = value.cast::<PyOutlierDetection>() {
        return Ok(Some(o.get().config.clone()));
    }
    if let Ok(d) = value.cast::<PyDict>() {
        let cls = value.py().get_type::<PyOutlierDetection>();
        let o = cls.call((), Some(d))?;
        return Ok(Some(o.cast::<PyOutlierDetection>()?.get().config.clone()));
    }
    Err(PyTypeError::new_err(format!(
        "outlier_detection must be a bool, an OutlierDetection or a dict, not {}",
        type_name(value)
    )))
}

fn phi_setting(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<PhiConfig>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(b.is_true().then(PhiConfig::default));
    }
    if let Ok(p) = value.cast::<PyPhiAccrual>() {
        return Ok(Some(p.get().config.clone()));
    }
    if let Ok(d) = value.cast::<PyDict>() {
        let cls = value.py().get_type::<PyPhiAccrual>();
        let p = cls.call((), Some(d))?;
        return Ok(Some(p.cast::<PyPhiAccrual>()?.get().config.clone()));
    }
    Err(PyTypeError::new_err(format!(
        "phi_accrual must be a bool, a PhiAccrual or a dict, not {}",
        type_name(value)
    )))
}

fn health_word(health: NodeHealth) -> &'static str {
    match health {
        NodeHealth::Up => "up",
        NodeHealth::Down => "down",
        NodeHealth::Ejected => "ejected",
        NodeHealth::Unreachable => "unreachable",
    }
}

#[inline]
fn name_at(snapshot: &Snapshot<Name>, node: NodeIndex) -> &Name {
    snapshot.nodes()[node].payload()
}

impl PyRouter {
    fn require(snapshot: &Snapshot<Name>, name: &Bound<'_, PyAny>) -> PyResult<NodeIndex> {
        let bytes = str_bytes(name_of(name)?)?;
        snapshot.nodes().require(&bytes).py()
    }

    fn nodes_of(snapshot: &Snapshot<Name>) -> Vec<(Name, f64)> {
        snapshot
            .nodes()
            .iter()
            .map(|(_, n)| (n.payload().clone(), n.weight()))
            .collect()
    }

    fn down_of(snapshot: &Snapshot<Name>) -> Vec<Name> {
        snapshot
            .nodes()
            .iter()
            .filter(|&(i, _)| snapshot.health(i) == Some(NodeHealth::Down))
            .map(|(_, n)| n.payload().clone())
            .collect()
    }

    /// `(name, weight, manually up)` sorted by name.
    fn config_of(snapshot: &Snapshot<Name>) -> Vec<(Vec<u8>, f64, bool)> {
        let mut v: Vec<_> = snapshot
            .nodes()
            .iter()
            .map(|(i, n)| {
                let manually_up = snapshot.health(i) != Some(NodeHealth::Down);
                (n.name().to_vec(), n.weight(), manually_up)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Turns a core lease into a Python one, with its node's name. The
    /// name is read from a snapshot that holds the very same node (the same
    /// counters), not merely the same index, which a membership change could
    /// have reused meanwhile; `None` (the lease abandoned) if the node left.
    fn wrap_lease(&self, py: Python<'_>, lease: Lease<'_, Name>) -> Option<PyLease> {
        let node = lease.node();
        let snapshot = self.router.snapshot();
        let same = snapshot
            .stats(node)
            .is_some_and(|s| std::ptr::eq(s, lease.stats()));
        if !same {
            return None;
        }
        let name = name_at(&snapshot, node).get(py);
        Some(PyLease::new(&self.router, lease.into_ticket(), name))
    }

    /// `route(key)`: installed as a `METH_O` method by [`crate::fast`].
    ///
    /// The healthy node serving ``key``. ``EmptyRingError`` without nodes,
    /// ``NoNodeUpError`` when none is healthy, ``TypeError`` for a bad key.
    /// Returns a new reference to the name, or NULL with the error raised.
    pub(crate) fn route_key(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> *mut ffi::PyObject {
        let bytes = match key_bytes(key) {
            Ok(bytes) => bytes,
            Err(err) => return fast::raise(py, err),
        };
        // The per-thread snapshot: no reference count touched per call.
        self.router
            .with_snapshot(|snapshot| match snapshot.route(&*bytes) {
                Some(i) => name_at(snapshot, i).get(py).into_ptr(),
                None => fast::raise(py, no_route(snapshot.nodes().len())),
            })
    }
}

/// The keyword arguments of `Router()` that are settings (all but `nodes`
/// and `down`).
const SETTINGS: &[&str] = &[
    "vnodes",
    "algorithm",
    "table_size",
    "picker",
    "ewma_decay",
    "outlier_detection",
    "phi_accrual",
    "bounded_loads",
    "clock",
    "tier_policy",
    "overprovisioning",
];

impl PyRouter {
    /// A router from the arguments of `Router(...)` (see the class docs).
    fn configure(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut keyword = vec!["down", "tiers"];
        keyword.extend_from_slice(SETTINGS);
        let mut v = bind("Router()", args, kwargs, &["nodes"], &keyword)?.into_iter();
        let mut next = || v.next().flatten();
        let (nodes, down, tiers) = (next(), next(), next());
        let (vnodes, algorithm, table_size, picker, ewma_decay) =
            (next(), next(), next(), next(), next());
        let (outlier_detection, phi_accrual, bounded_loads, clock) =
            (next(), next(), next(), next());
        let (tier_policy, overprovisioning) = (next(), next());
        let word = |value: Option<Bound<'_, PyAny>>, what: &str, default: &str| match value {
            None => Ok(default.to_owned()),
            Some(v) => v.extract::<String>().map_err(|_| {
                PyTypeError::new_err(format!("{what} must be a str, not {}", type_name(&v)))
            }),
        };
        Self::build(
            nodes.as_ref(),
            vnodes.as_ref(),
            word(algorithm, "algorithm", "ring")?,
            table_size.as_ref(),
            down.as_ref(),
            word(picker, "picker", "least_connections")?,
            ewma_decay.as_ref(),
            outlier_detection.map_or(Arg::Missing, Arg::Given),
            phi_accrual.as_ref(),
            bounded_loads.as_ref(),
            clock.as_ref(),
            tiers.as_ref(),
            word(tier_policy, "tier_policy", "strict")?,
            overprovisioning.as_ref(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        nodes: Option<&Bound<'_, PyAny>>,
        vnodes: Option<&Bound<'_, PyAny>>,
        algorithm: String,
        table_size: Option<&Bound<'_, PyAny>>,
        down: Option<&Bound<'_, PyAny>>,
        picker: String,
        ewma_decay: Option<&Bound<'_, PyAny>>,
        outlier_detection: Arg<'_>,
        phi_accrual: Option<&Bound<'_, PyAny>>,
        bounded_loads: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyAny>>,
        tiers: Option<&Bound<'_, PyAny>>,
        tier_policy: String,
        overprovisioning: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let algorithm = algorithm::parse(&algorithm, vnodes, table_size)?;
        let tier_policy = parse_policy(&tier_policy, overprovisioning)?;
        let tiers = parse_tiers(tiers)?;
        let ewma_decay = ewma_decay
            .filter(|d| !d.is_none())
            .map(|d| crate::health::seconds(d, "ewma_decay"))
            .transpose()?;
        let picker = algorithm::parse_picker(&picker, ewma_decay)?;
        let outlier = outlier_setting(outlier_detection)?;
        let phi = phi_setting(phi_accrual)?;
        let bounded_loads = match bounded_loads.filter(|b| !b.is_none()) {
            None => None,
            Some(b) => Some(crate::numbers::real_of(b, "bounded_loads")?),
        };
        let clock = match clock.filter(|c| !c.is_none()) {
            None => None,
            Some(c) => Some(
                c.cast::<PyManualClock>()
                    .map_err(|_| {
                        PyTypeError::new_err(format!(
                            "clock must be a ManualClock, not {}",
                            type_name(c)
                        ))
                    })?
                    .clone()
                    .unbind(),
            ),
        };
        let specs = parse_nodes(nodes)?;
        check_ring_points(&algorithm, &specs)?;
        let down = parse_names(down)?;
        for name in down.iter().chain(tiers.iter().map(|(n, _)| n)) {
            if !specs.iter().any(|s| &s.bytes == name) {
                return Err(ringroute::Error::UnknownNode(
                    name.clone().into_boxed_slice(),
                ))
                .py();
            }
        }
        let mut builder = Router::<Name>::builder()
            .algorithm(algorithm.clone())
            .picker(picker.clone())
            .tier_policy(tier_policy);
        builder = match &outlier {
            Some(config) => builder.outlier_detection(config.clone()),
            None => builder.no_outlier_detection(),
        };
        if let Some(config) = &phi {
            builder = builder.phi_accrual(config.clone());
        }
        if let Some(c) = bounded_loads {
            builder = builder.bounded_loads(c);
        }
        if let Some(clock) = &clock {
            let clock: Arc<dyn Clock> = clock.get().clock.clone();
            builder = builder.clock(clock);
        }
        for spec in specs {
            let tier = tiers
                .iter()
                .find(|(n, _)| *n == spec.bytes)
                .map_or(0, |&(_, t)| t);
            builder = builder.node_with_tier(&spec.bytes, spec.weight, tier, spec.name);
        }
        let router = builder.build().py()?;
        for name in &down {
            router.mark_down(name).py()?;
        }
        Ok(PyRouter {
            router,
            settings: Settings {
                algorithm,
                picker,
                outlier,
                phi,
                bounded_loads,
                clock,
                tier_policy,
            },
        })
    }
}

#[pymethods]
impl PyRouter {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*args, **kwargs), text_signature = "(nodes=None, *, vnodes=None, algorithm='ring', table_size=None, down=None, picker='least_connections', ewma_decay=None, outlier_detection=True, phi_accrual=None, bounded_loads=None, clock=None, tiers=None, tier_policy='strict', overprovisioning=None)")]
    fn new(
        cls: &Bound<'_, PyType>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        if overrides_init(cls, &cls.py().get_type::<PyRouter>())? {
            // A subclass with its own `__init__`: its arguments are not
            // ours. Its settings are the keywords of the class call that
            // name one; its nodes come from `super().__init__(nodes)`.
            let settings = PyDict::new(cls.py());
            if let Some(kwargs) = kwargs {
                for (key, value) in kwargs.iter() {
                    if SETTINGS.iter().any(|s| key.eq(*s).unwrap_or(false)) {
                        settings.set_item(key, value)?;
                    }
                }
            }
            return Self::configure(&PyTuple::empty(cls.py()), Some(&settings));
        }
        Self::configure(args, kwargs)
    }

    /// Sets the nodes when a subclass's ``__init__`` calls
    /// ``super().__init__(nodes, ...)``; a no-op otherwise (``__new__``
    /// already did it). The settings were fixed by ``__new__`` (from the
    /// keywords of the class call): different ones here are a ``TypeError``.
    #[pyo3(signature = (*args, **kwargs))]
    fn __init__(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let py = slf.py();
        if !overrides_init(&slf.get_type(), &py.get_type::<PyRouter>())? {
            return Ok(());
        }
        // Validates everything, nodes and down included, before any change.
        let wanted = Self::configure(args, kwargs)?;
        let this = slf.get();
        let same_clock = match (&this.settings.clock, &wanted.settings.clock) {
            (None, None) => true,
            (Some(a), Some(b)) => a.is(b),
            _ => false,
        };
        if !this.settings.same(&wanted.settings) || !same_clock {
            return Err(PyTypeError::new_err(
                "a Router subclass with its own __init__ takes its settings from the keywords \
                 of the class call (e.g. MyRouter(..., algorithm='jump')); \
                 super().__init__() may only repeat them",
            ));
        }
        let snapshot = wanted.router.snapshot();
        this.router
            .replace(
                snapshot
                    .nodes()
                    .iter()
                    .map(|(_, n)| (n.name().to_vec(), n.weight(), n.payload().clone())),
            )
            .py()?;
        for name in Self::down_of(&snapshot) {
            this.router.mark_down(&*str_bytes(name.bind(py))?).py()?;
        }
        Ok(())
    }

    /// Up to ``n`` distinct healthy nodes for ``key``, primary first.
    fn route_n<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        n: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let bytes = key_bytes(key)?;
        let n = count_of(n)?;
        let snapshot = self.router.snapshot();
        if snapshot.up_count() == 0 {
            return Err(no_route(snapshot.nodes().len()));
        }
        let replicas = snapshot.route_n(&*bytes, n);
        names_list(py, replicas.iter().copied(), |i| name_at(&snapshot, i))
    }

    /// ``route`` for every key of an iterable, all in one snapshot. The keys
    /// are read with the GIL held, then routed with the GIL released.
    fn route_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let snapshot = self.router.snapshot();
        let Some(routed) = route_batch(keys, &*snapshot, |s, k| s.route(k))? else {
            return Err(no_route(snapshot.nodes().len()));
        };
        names_list(py, routed.into_iter(), |i| name_at(&snapshot, i))
    }

    /// Splits ``keys`` into one batch per node, for a multi-get or a fan-out
    /// call: ``{name: [positions of its keys]}``, nodes in order of their
    /// first key, positions ascending. Each key goes to the node that serves
    /// it now (``failover=True``: a down node's keys go to their next
    /// replica) or to its primary whatever its health (``failover=False``).
    /// All in one snapshot, routed with the GIL released.
    #[pyo3(signature = (keys, failover=true))]
    fn group<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
        failover: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let snapshot = self.router.snapshot();
        let routed = if failover {
            route_batch(keys, &*snapshot, |s, k| s.route(k))?
        } else {
            route_batch(keys, &*snapshot, |s, k| s.primary(k))?
        };
        let Some(routed) = routed else {
            return Err(no_route(snapshot.nodes().len()));
        };
        // Groups numbered by first appearance, via a per-slot table.
        let mut group_of = vec![usize::MAX; snapshot.nodes().capacity()];
        let mut groups: Vec<(NodeIndex, Vec<usize>)> = Vec::new();
        for (position, node) in routed.into_iter().enumerate() {
            let g = &mut group_of[node.as_usize()];
            if *g == usize::MAX {
                *g = groups.len();
                groups.push((node, Vec::new()));
            }
            groups[*g].1.push(position);
        }
        let out = PyDict::new(py);
        for (node, positions) in groups {
            out.set_item(name_at(&snapshot, node).0.bind(py), positions)?;
        }
        Ok(out)
    }

    /// Applies several changes at once, all or nothing, published as one
    /// snapshot (readers see all of them or none). Each change is a tuple:
    /// ``("add", name)``, ``("add", name, weight)``, ``("remove", name)``,
    /// ``("set_weight", name, weight)``, ``("mark_down", name)`` or
    /// ``("mark_up", name)``. The ring changes once, so a batch costs at most
    /// about one fresh build however many nodes it touches.
    fn apply(&self, changes: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut list = Vec::new();
        for change in changes.try_iter()? {
            let change = change?;
            let Ok(fields) = change.cast::<PyTuple>() else {
                return Err(PyTypeError::new_err(format!(
                    "each change is a tuple (op, name[, weight]), not {}",
                    crate::keys::type_name(&change)
                )));
            };
            let n = fields.len();
            if !(2..=3).contains(&n) {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "a change has 2 or 3 fields (op, name[, weight]), not {n}"
                )));
            }
            let op_obj = fields.get_item(0)?;
            let Ok(op) = op_obj.cast::<PyString>() else {
                return Err(PyTypeError::new_err("a change's op must be a str"));
            };
            let op = op.to_cow()?;
            let name = fields.get_item(1)?;
            let weight = if n == 3 {
                Some(weight_of(&fields.get_item(2)?)?)
            } else {
                None
            };
            let bytes = || -> PyResult<Vec<u8>> { Ok(str_bytes(name_of(&name)?)?.to_vec()) };
            list.push(match (&*op, weight) {
                ("add", w) => {
                    let (bytes, name) = name_spec(&name)?;
                    Change::add(&bytes, w.unwrap_or(1.0), name)
                }
                ("remove", None) => Change::remove(&bytes()?),
                ("set_weight", Some(w)) => Change::set_weight(&bytes()?, w),
                ("mark_down", None) => Change::mark_down(&bytes()?),
                ("mark_up", None) => Change::mark_up(&bytes()?),
                (op, _) => {
                    return Err(pyo3::exceptions::PyValueError::new_err(format!(
                        "unknown change ({op:?} with {n} fields): use add, remove, \
                         set_weight, mark_down or mark_up"
                    )));
                }
            });
        }
        self.router.apply(list).py()
    }

    /// Every healthy node in ``key``'s failover order: the primary, then
    /// each next replica (the ring walks every node; other algorithms offer
    /// their first 8).
    fn failover<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let bytes = key_bytes(key)?;
        let snapshot = self.router.snapshot();
        let order: Vec<NodeIndex> = snapshot.failover(&*bytes).collect();
        names_list(py, order.into_iter(), |i| name_at(&snapshot, i))
    }

    /// Routes ``key`` (sticky; with ``bounded_loads``, past a full node) and
    /// starts a request on the node. Use the lease as a context manager:
    /// ``with router.lease(key) as node: ...`` reports success and latency,
    /// or failure on an exception.
    fn lease(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyLease> {
        let bytes = key_bytes(key)?;
        // A retry only happens if the chosen node left in the meantime.
        for _ in 0..4 {
            let Some(lease) = self.router.lease(&*bytes) else {
                return Err(no_route(self.router.snapshot().nodes().len()));
            };
            if let Some(lease) = self.wrap_lease(py, lease) {
                return Ok(lease);
            }
        }
        Err(no_route(self.router.snapshot().nodes().len()))
    }

    /// Starts a request on the node ``name`` (for failover loops over
    /// ``failover(key)``). ``KeyError`` if unknown.
    fn lease_on(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<PyLease> {
        let snapshot = self.router.snapshot();
        let node = Self::require(&snapshot, name)?;
        let lease = self
            .router
            .start_on(&snapshot, node)
            .ok_or_else(|| no_route(snapshot.nodes().len()))?;
        Ok(PyLease::new(
            &self.router,
            lease.into_ticket(),
            name_at(&snapshot, node).get(py),
        ))
    }

    /// A node for a request without a key, chosen by the router's
    /// ``picker`` among the healthy nodes, with the request started on it.
    ///
    /// ``with router.pick() as node: ...`` reports success and latency on a
    /// normal exit and failure on an exception, as ``lease`` does; the
    /// load-aware pickers read those in-flight counts and latencies.
    fn pick(&self, py: Python<'_>) -> PyResult<PyLease> {
        for _ in 0..4 {
            let Some(lease) = self.router.pick() else {
                return Err(no_route(self.router.snapshot().nodes().len()));
            };
            if let Some(lease) = self.wrap_lease(py, lease) {
                return Ok(lease);
            }
        }
        Err(no_route(self.router.snapshot().nodes().len()))
    }

    /// Adds a node (weight 1.0 by default), up, in ``tier`` (0, a primary,
    /// by default). Keys move only to it.
    #[pyo3(signature = (name, weight=Arg::Missing, *, tier=None), text_signature = "(self, name, weight=1.0, *, tier=0)")]
    fn add(
        &self,
        name: &Bound<'_, PyAny>,
        weight: Arg<'_>,
        tier: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (bytes, name) = name_spec(name)?;
        // An explicit `None` is refused: it is not a weight.
        let weight = match weight {
            Arg::Missing => 1.0,
            Arg::Given(w) => weight_of(&w)?,
        };
        match tier.map(tier_of).transpose()?.unwrap_or(0) {
            0 => self.router.add_with(&bytes, weight, name).py().map(drop),
            tier => self
                .router
                .apply([
                    Change::add(&bytes, weight, name),
                    Change::set_tier(&bytes, tier),
                ])
                .py(),
        }
    }

    /// Moves a node to ``tier`` (0 = primary, 1 = first backup, ...): a
    /// membership change, like a reweight. ``KeyError`` if unknown.
    fn set_tier(&self, name: &Bound<'_, PyAny>, tier: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?;
        let tier = tier_of(tier)?;
        self.router.set_tier(&*bytes, tier).py()
    }

    /// The tier of a node. ``KeyError`` if unknown.
    fn tier(&self, name: &Bound<'_, PyAny>) -> PyResult<u32> {
        let snapshot = self.router.snapshot();
        let node = Self::require(&snapshot, name)?;
        Ok(snapshot.node(node).expect("member").tier())
    }

    /// The tier ``key`` is routed to now (``LookupError`` when empty).
    fn key_tier(&self, key: &Bound<'_, PyAny>) -> PyResult<u32> {
        let bytes = key_bytes(key)?;
        let snapshot = self.router.snapshot();
        snapshot
            .key_tier(&*bytes)
            .ok_or_else(|| no_route(snapshot.nodes().len()))
    }

    /// dict: the share of keys and picks each tier takes now, ``{tier: share}``
    /// (the shares sum to 1).
    #[getter]
    fn tier_shares<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for t in self.router.snapshot().tiers() {
            dict.set_item(t.tier, t.share)?;
        }
        Ok(dict)
    }

    /// dict: every node's tier, ``{name: tier}``.
    #[getter]
    fn tiers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snapshot = self.router.snapshot();
        let all: Vec<(Name, u32)> = snapshot
            .nodes()
            .iter()
            .map(|(_, n)| (n.payload().clone(), n.tier()))
            .collect();
        tiers::tiers_dict(py, &all)
    }

    /// str: ``"strict"`` or ``"proportional"``.
    #[getter]
    fn tier_policy(&self) -> &'static str {
        tiers::describe(&self.settings.tier_policy).0
    }

    /// float or None: the overprovisioning factor of the proportional policy.
    #[getter]
    fn overprovisioning(&self) -> Option<f64> {
        tiers::describe(&self.settings.tier_policy).1
    }

    /// Removes a node; only its keys move. ``KeyError`` if unknown.
    fn remove(&self, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?;
        self.router.remove(&*bytes).py()
    }

    /// Changes a node's weight; keys move only to or from it.
    fn set_weight(&self, name: &Bound<'_, PyAny>, weight: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?;
        self.router.set_weight(&*bytes, weight_of(weight)?).py()
    }

    /// Takes a node out by hand until ``mark_up``.
    fn mark_down(&self, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?;
        self.router.mark_down(&*bytes).py()
    }

    /// Puts a node back by hand (an ejection or a heartbeat verdict may
    /// still hold it out).
    fn mark_up(&self, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?;
        self.router.mark_up(&*bytes).py()
    }

    /// Makes the membership exactly ``nodes`` (as in the constructor), all
    /// or nothing, in one publication. Nodes that stay keep their counters,
    /// health and manual state.
    fn replace(&self, nodes: &Bound<'_, PyAny>) -> PyResult<()> {
        let specs = parse_nodes(Some(nodes))?;
        self.router
            .replace(specs.into_iter().map(|s| (s.bytes, s.weight, s.name)))
            .py()
    }

    /// Records a heartbeat from ``name`` for the phi-accrual detector (a
    /// no-op without one). An unreachable node is back at once.
    fn heartbeat(&self, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?;
        self.router.heartbeat(&*bytes).py()
    }

    /// Ends ejections whose time is up and marks nodes whose heartbeats
    /// stopped as unreachable. Call it periodically (say every second).
    fn tick(&self) {
        self.router.tick();
    }

    /// The router's clock, in seconds.
    fn now(&self) -> f64 {
        self.router.now().as_secs_f64()
    }

    /// ``"up"``, ``"down"`` (by hand), ``"ejected"`` (outlier detection) or
    /// ``"unreachable"`` (heartbeats stopped); for every node when ``name``
    /// is omitted.
    #[pyo3(signature = (name=None))]
    fn health<'py>(
        &self,
        py: Python<'py>,
        name: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let snapshot = self.router.snapshot();
        if let Some(name) = name {
            let node = Self::require(&snapshot, name)?;
            let health = snapshot.health(node).unwrap_or(NodeHealth::Down);
            return Ok(word(py, health_word(health)).into_any());
        }
        let dict = PyDict::new(py);
        for (i, node) in snapshot.nodes().iter() {
            let health = snapshot.health(i).unwrap_or(NodeHealth::Down);
            dict.set_item(node.payload().bind(py), word(py, health_word(health)))?;
        }
        Ok(dict.into_any())
    }

    /// The node's request counters: ``in_flight``, ``successes``,
    /// ``failures``, ``consecutive_failures``, and ``latency``: the
    /// peak-EWMA of its successful requests' latencies in seconds (0.0
    /// before the first), as ``picker="least_response_time"`` reads it.
    fn stats<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let snapshot = self.router.snapshot();
        let node = Self::require(&snapshot, name)?;
        let dict = PyDict::new(py);
        if let Some(s) = snapshot.stats(node) {
            dict.set_item("in_flight", s.in_flight())?;
            dict.set_item("successes", s.successes())?;
            dict.set_item("failures", s.failures())?;
            dict.set_item("consecutive_failures", s.consecutive_failures())?;
            let rtt = s
                .latency()
                .cost(self.router.now(), self.settings.picker.decay());
            dict.set_item("latency", rtt / 1e9)?;
        }
        Ok(dict)
    }

    /// The weight of ``name`` (``KeyError`` if unknown).
    fn weight(&self, name: &Bound<'_, PyAny>) -> PyResult<f64> {
        let snapshot = self.router.snapshot();
        let node = Self::require(&snapshot, name)?;
        Ok(snapshot.nodes()[node].weight())
    }

    /// Whether ``name`` takes traffic now (``KeyError`` if unknown).
    fn is_up(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let snapshot = self.router.snapshot();
        let node = Self::require(&snapshot, name)?;
        Ok(snapshot.health(node) == Some(NodeHealth::Up))
    }

    /// dict[str, float]: every node's weight.
    #[getter]
    fn nodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        weights_dict(py, &Self::nodes_of(&self.router.snapshot()))
    }

    /// list[str]: the nodes marked down by hand.
    #[getter]
    fn down<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let down = Self::down_of(&self.router.snapshot());
        PyList::new(py, down.iter().map(|n| n.bind(py)))
    }

    /// int | None: virtual nodes per unit weight (``algorithm="ring"``).
    #[getter]
    fn vnodes(&self) -> Option<u32> {
        algorithm::describe(&self.settings.algorithm).vnodes
    }

    /// int | None: the lookup table size (``algorithm="maglev"``).
    #[getter]
    fn table_size(&self) -> Option<u32> {
        algorithm::describe(&self.settings.algorithm).table_size
    }

    /// str: the placement algorithm.
    #[getter]
    fn algorithm(&self) -> &'static str {
        algorithm::describe(&self.settings.algorithm).name
    }

    /// str: the picker ``pick()`` uses for requests without a key.
    #[getter]
    fn picker(&self) -> &'static str {
        algorithm::describe_picker(&self.settings.picker).0
    }

    /// float | None: the EWMA time constant of ``"least_response_time"``.
    #[getter]
    fn ewma_decay(&self) -> Option<f64> {
        algorithm::describe_picker(&self.settings.picker)
            .1
            .map(|d| d.as_secs_f64())
    }

    /// OutlierDetection | None: the passive ejection settings.
    #[getter]
    fn outlier_detection(&self, py: Python<'_>) -> PyResult<Option<Py<PyOutlierDetection>>> {
        self.settings
            .outlier
            .clone()
            .map(|config| Py::new(py, PyOutlierDetection { config }))
            .transpose()
    }

    /// PhiAccrual | None: the heartbeat detector settings.
    #[getter]
    fn phi_accrual(&self, py: Python<'_>) -> PyResult<Option<Py<PyPhiAccrual>>> {
        self.settings
            .phi
            .clone()
            .map(|config| Py::new(py, PyPhiAccrual { config }))
            .transpose()
    }

    /// float | None: the bounded-loads factor.
    #[getter]
    fn bounded_loads(&self) -> Option<f64> {
        self.settings.bounded_loads
    }

    /// int: increases with every published change (membership or health).
    #[getter]
    fn version(&self) -> u64 {
        self.router.snapshot().version()
    }

    fn __len__(&self) -> usize {
        self.router.snapshot().nodes().len()
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(name) = name.cast::<PyString>() else {
            return Ok(false);
        };
        let bytes = str_bytes(name)?;
        Ok(self.router.snapshot().index_of(&*bytes).is_some())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        let snapshot = self.router.snapshot();
        let names = PyList::new(
            py,
            snapshot.nodes().iter().map(|(_, n)| n.payload().bind(py)),
        )?;
        names.try_iter()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let this = slf.get();
        let snapshot = this.router.snapshot();
        let cls = slf.get_type().qualname()?;
        let mut out = format!(
            "{cls}({}, {}",
            repr_nodes(py, &Self::nodes_of(&snapshot))?,
            algorithm::repr_options(&this.settings.algorithm)
        );
        let down = Self::down_of(&snapshot);
        if !down.is_empty() && snapshot.nodes().len() <= 8 {
            out.push_str(&format!(", down={}", repr_names(py, &down)?));
        }
        if this.settings.picker != PickerKind::default() {
            let (picker, decay) = algorithm::describe_picker(&this.settings.picker);
            out.push_str(&format!(", picker='{picker}'"));
            if let Some(d) = decay {
                let d = PyFloat::new(py, d.as_secs_f64());
                out.push_str(&format!(", ewma_decay={}", d.repr()?));
            }
        }
        if this.settings.outlier.is_none() {
            out.push_str(", outlier_detection=False");
        } else if this.settings.outlier != Some(OutlierConfig::default()) {
            let o = this.outlier_detection(py)?.expect("set");
            out.push_str(&format!(", outlier_detection={}", o.bind(py).repr()?));
        }
        if let Some(p) = this.phi_accrual(py)? {
            out.push_str(&format!(", phi_accrual={}", p.bind(py).repr()?));
        }
        if let Some(c) = this.settings.bounded_loads {
            let c = PyFloat::new(py, c);
            out.push_str(&format!(", bounded_loads={}", c.repr()?));
        }
        let backups = backups_of(&snapshot);
        if !backups.is_empty() && backups.len() <= 8 {
            out.push_str(&format!(", tiers={}", tiers::repr_tiers(py, &backups)?));
        }
        if let (policy, factor) = tiers::describe(&this.settings.tier_policy)
            && policy != "strict"
        {
            out.push_str(&format!(", tier_policy='{policy}'"));
            if let Some(f) = factor.filter(|&f| f != TierPolicy::DEFAULT_OVERPROVISIONING) {
                out.push_str(&format!(
                    ", overprovisioning={}",
                    PyFloat::new(py, f).repr()?
                ));
            }
        }
        out.push(')');
        Ok(out)
    }

    fn __eq__(&self, other: &Bound<'_, PyRouter>) -> bool {
        let other = other.get();
        let (a, b) = (self.router.snapshot(), other.router.snapshot());
        let tiers = |s: &Snapshot<Name>| -> Vec<(Vec<u8>, u32)> {
            let mut t: Vec<_> = s
                .nodes()
                .iter()
                .map(|(_, n)| (n.name().to_vec(), n.tier()))
                .collect();
            t.sort();
            t
        };
        self.settings.same(&other.settings)
            && Self::config_of(&a) == Self::config_of(&b)
            && tiers(&a) == tiers(&b)
            // Jump: the same slots and removal history, or keys differ.
            && memento::layout(a.nodes(), a.placement(), &|i| a.health(i) != Some(NodeHealth::Down))
                == memento::layout(b.nodes(), b.placement(), &|i| b.health(i) != Some(NodeHealth::Down))
    }

    /// Pickles the configuration: nodes, weights, nodes down by hand,
    /// algorithm and health settings (not counters, ejections or heartbeats).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let this = slf.get();
        let snapshot = this.router.snapshot();
        // A jump router with free slots: its slots and removal history go
        // in the state (see `memento`), which holds the nodes and states.
        let history = memento::to_py(py, snapshot.nodes(), snapshot.placement(), &|i| {
            snapshot.health(i) != Some(NodeHealth::Down)
        })?;
        let nodes = if history.is_some() {
            PyDict::new(py)
        } else {
            weights_dict(py, &Self::nodes_of(&snapshot))?
        };
        let kwargs = PyDict::new(py);
        algorithm::to_kwargs(&this.settings.algorithm, &kwargs)?;
        let (picker, decay) = algorithm::describe_picker(&this.settings.picker);
        kwargs.set_item("picker", picker)?;
        if let Some(d) = decay {
            kwargs.set_item("ewma_decay", d.as_secs_f64())?;
        }
        let down = Self::down_of(&snapshot);
        if !down.is_empty() && history.is_none() {
            kwargs.set_item("down", PyList::new(py, down.iter().map(|n| n.bind(py)))?)?;
        }
        match this.outlier_detection(py)? {
            Some(o) => kwargs.set_item("outlier_detection", o)?,
            None => kwargs.set_item("outlier_detection", false)?,
        }
        if let Some(p) = this.phi_accrual(py)? {
            kwargs.set_item("phi_accrual", p)?;
        }
        if let Some(c) = this.settings.bounded_loads {
            kwargs.set_item("bounded_loads", c)?;
        }
        if let Some(clock) = &this.settings.clock {
            kwargs.set_item("clock", clock.bind(py))?;
        }
        let backups = backups_of(&snapshot);
        // A jump history re-adds its nodes in `__setstate__`, as primaries:
        // tiers cannot name them at construction.
        if !backups.is_empty() && history.is_none() {
            kwargs.set_item("tiers", tiers::tiers_dict(py, &backups)?)?;
        }
        let (policy, factor) = tiers::describe(&this.settings.tier_policy);
        kwargs.set_item("tier_policy", policy)?;
        if let Some(f) = factor {
            kwargs.set_item("overprovisioning", f)?;
        }
        reduce_with(slf.as_any(), PyTuple::new(py, [nodes])?, kwargs, history)
    }

    /// Restores what ``__reduce__`` saved beyond the constructor's
    /// arguments: a jump router's slots and removal history (on a router
    /// without nodes, as unpickling makes it), and a subclass's attributes.
    fn __setstate__(slf: &Bound<'_, Self>, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let Some(history) = split_state(slf.as_any(), state)? else {
            return Ok(());
        };
        let history = memento::from_py(&history)?;
        let router = &slf.get().router;
        if !router.snapshot().nodes().is_empty() {
            return Err(PyValueError::new_err(
                "__setstate__ restores a placement history only on a Router without nodes",
            ));
        }
        // On an empty table the nodes take the slots in order: one update.
        router
            .replace(
                history
                    .slots
                    .iter()
                    .enumerate()
                    .map(|(i, slot)| match &slot.node {
                        Some((bytes, name)) => (bytes.clone(), 1.0, name.clone()),
                        None => (memento::hole_name(i as u32), 1.0, memento::hole_payload(py)),
                    }),
            )
            .py()?;
        for &i in &history.freed {
            router.remove(&memento::hole_name(i)).py()?;
        }
        memento::check_slots(&history, router.snapshot().nodes())?;
        for slot in &history.slots {
            if let (Some((bytes, _)), false) = (&slot.node, slot.up) {
                router.mark_down(bytes).py()?;
            }
        }
        Ok(())
    }
}
