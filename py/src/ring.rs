//! `ringroute.Ring`: a consistent-hash ring of named, weighted nodes.

use std::sync::Arc;

use parking_lot::RwLock;
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList, PyString, PyTuple, PyType};
use ringroute::router::{Algorithm, AnyPlacement};
use ringroute::{Cluster, NodeIndex, NodeState};

use crate::algorithm;
use crate::common::{
    count_of, names_list, reduce_with, repr_names, repr_nodes, split_state, weights_dict,
};
use crate::errors::{IntoPyResult, no_route};
use crate::fast;
use crate::keys::{key_bytes, name_of, route_batch, str_bytes};
use crate::memento;
use crate::nodes::{Name, check_ring_points, name_spec, parse_names, parse_nodes, weight_of};
use crate::router::Arg;
use crate::subclass::{bind, overrides_init};

/// One immutable state of a ring. Lookups clone the `Arc` (or hold the read
/// lock); changes copy it only while a batch lookup still holds the old one.
#[derive(Clone)]
pub(crate) struct RingState {
    pub cluster: Cluster<AnyPlacement, Name>,
    pub algorithm: Algorithm,
}

impl RingState {
    fn nodes(&self) -> Vec<(Name, f64)> {
        self.cluster
            .iter()
            .map(|(_, n)| (n.payload().clone(), n.weight()))
            .collect()
    }

    fn down(&self) -> Vec<Name> {
        self.cluster
            .iter()
            .filter(|(_, n)| !n.is_up())
            .map(|(_, n)| n.payload().clone())
            .collect()
    }

    #[inline]
    fn name(&self, index: NodeIndex) -> &Name {
        self.cluster[index].payload()
    }

    /// `(name, weight, up)` sorted by name: what equality compares.
    fn config(&self) -> Vec<(&[u8], f64, bool)> {
        let mut v: Vec<_> = self
            .cluster
            .iter()
            .map(|(_, n)| (n.name(), n.weight(), n.is_up()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }
}

/// A consistent-hash ring: which node serves this key?
///
/// ``nodes`` is a list of names (weight 1.0 each), a mapping of name to
/// weight, or a list of ``(name, weight)`` pairs. With ``algorithm="ring"``
/// (the native ring, spec v2) each node owns ``round(vnodes * weight)``
/// points, ``vnodes`` defaulting to 160. Names in ``down`` start marked down.
///
/// Keys are ``str`` (hashed as UTF-8), ``bytes``, ``bytearray`` or
/// ``memoryview``. Lookups skip nodes that are down. The same keys reach the
/// same nodes as in the Rust crate and the C library.
///
/// A ``Ring`` may be shared between threads; ``route_many`` releases the
/// GIL while it routes. For leases, health detection and failover, use
/// :class:`Router`.
#[pyclass(frozen, subclass, module = "ringroute", name = "Ring")]
pub struct PyRing {
    state: RwLock<Arc<RingState>>,
}

impl PyRing {
    fn change<R>(&self, f: impl FnOnce(&mut RingState) -> PyResult<R>) -> PyResult<R> {
        let mut guard = self.state.write();
        // Copies the state only if a batch lookup still holds it.
        f(Arc::make_mut(&mut guard))
    }

    fn snapshot(&self) -> Arc<RingState> {
        Arc::clone(&self.state.read())
    }

    fn require(state: &RingState, name: &Bound<'_, PyAny>) -> PyResult<NodeIndex> {
        let bytes = str_bytes(name_of(name)?)?;
        state.cluster.nodes().require(&bytes).py()
    }
}

impl RingState {
    /// A ring from the arguments of `Ring(nodes=None, *, vnodes=None,
    /// algorithm="ring", table_size=None, down=None)`.
    fn configure(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let [nodes, vnodes, algorithm, table_size, down]: [Option<Bound<'_, PyAny>>; 5] = bind(
            "Ring()",
            args,
            kwargs,
            &["nodes"],
            &["vnodes", "algorithm", "table_size", "down"],
        )?
        .try_into()
        .map_err(|_| PyValueError::new_err("internal: argument count"))?;
        let algorithm = match &algorithm {
            None => "ring".to_owned(),
            Some(a) => a.extract::<String>().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "algorithm must be a str, not {}",
                    crate::keys::type_name(a)
                ))
            })?,
        };
        let algorithm = algorithm::parse(&algorithm, vnodes.as_ref(), table_size.as_ref())?;
        let cluster = build_cluster(&algorithm, nodes.as_ref(), down.as_ref())?;
        Ok(RingState { cluster, algorithm })
    }
}

/// Builds the cluster of a `Ring` or the node list of a `Router`.
pub(crate) fn build_cluster(
    algorithm: &Algorithm,
    nodes: Option<&Bound<'_, PyAny>>,
    down: Option<&Bound<'_, PyAny>>,
) -> PyResult<Cluster<AnyPlacement, Name>> {
    let specs = parse_nodes(nodes)?;
    let down = parse_names(down)?;
    for name in &down {
        if !specs.iter().any(|s| &s.bytes == name) {
            return Err(ringroute::Error::UnknownNode(
                name.clone().into_boxed_slice(),
            ))
            .py();
        }
    }
    check_ring_points(algorithm, &specs)?;
    let placement = algorithm.placement().py()?;
    Cluster::from_nodes(
        placement,
        specs.into_iter().map(|s| {
            let state = if down.contains(&s.bytes) {
                NodeState::Down
            } else {
                NodeState::Up
            };
            (s.bytes, s.weight, state, s.name)
        }),
    )
    .py()
}

impl PyRing {
    /// `route(key)`: installed as a `METH_O` method by [`crate::fast`].
    ///
    /// The node serving ``key``: the first up node clockwise from the key's
    /// hash. Raises ``EmptyRingError`` on an empty ring, ``NoNodeUpError``
    /// when every node is down, ``TypeError`` for a key that is not
    /// ``str``/``bytes``-like.
    /// Returns a new reference to the name, or NULL with the error raised.
    pub(crate) fn route_key(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> *mut ffi::PyObject {
        let bytes = match key_bytes(key) {
            Ok(bytes) => bytes,
            Err(err) => return fast::raise(py, err),
        };
        let state = self.state.read();
        match state.cluster.route(&*bytes) {
            Some(i) => state.name(i).get(py).into_ptr(),
            None => fast::raise(py, no_route(state.cluster.len())),
        }
    }
}

#[pymethods]
impl PyRing {
    #[new]
    #[classmethod]
    #[pyo3(
        signature = (*args, **kwargs),
        text_signature = "(nodes=None, *, vnodes=None, algorithm='ring', table_size=None, down=None)"
    )]
    fn new(
        cls: &Bound<'_, PyType>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        // A subclass with its own `__init__` configures the ring from it
        // (`super().__init__(...)`); its arguments are not ours.
        let state = if overrides_init(cls, &cls.py().get_type::<PyRing>())? {
            RingState::configure(&PyTuple::empty(cls.py()), None)?
        } else {
            RingState::configure(args, kwargs)?
        };
        Ok(PyRing {
            state: RwLock::new(Arc::new(state)),
        })
    }

    /// Configures the ring when a subclass's ``__init__`` calls
    /// ``super().__init__(nodes, ...)``; a no-op otherwise (``__new__``
    /// already did it).
    #[pyo3(signature = (*args, **kwargs))]
    fn __init__(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        if overrides_init(&slf.get_type(), &slf.py().get_type::<PyRing>())? {
            let state = RingState::configure(args, kwargs)?;
            *slf.get().state.write() = Arc::new(state);
        }
        Ok(())
    }

    /// Up to ``n`` distinct up nodes for ``key``, primary first: the key's
    /// replicas in failover order. Fewer when fewer nodes are up.
    fn route_n<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        n: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let bytes = key_bytes(key)?;
        let n = count_of(n)?;
        let state = self.snapshot();
        if state.cluster.up_count() == 0 {
            return Err(no_route(state.cluster.len()));
        }
        let replicas = state.cluster.route_n(&*bytes, n);
        names_list(py, replicas.iter().copied(), |i| state.name(i))
    }

    /// ``route`` for every key of an iterable, in order. The keys are read
    /// with the GIL held, then routed with the GIL released.
    fn route_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let state = self.snapshot();
        let Some(routed) = route_batch(keys, &state.cluster, |c, k| c.route(k))? else {
            return Err(no_route(state.cluster.len()));
        };
        names_list(py, routed.into_iter(), |i| state.name(i))
    }

    /// Adds a node, up. Keys move only to it. ``ValueError`` for a duplicate
    /// or empty name or a bad weight (not finite, or ``<= 0``).
    #[pyo3(signature = (name, weight=Arg::Missing), text_signature = "(self, name, weight=1.0)")]
    fn add(&self, name: &Bound<'_, PyAny>, weight: Arg<'_>) -> PyResult<()> {
        let (bytes, name) = name_spec(name)?;
        // An explicit `None` is refused: it is not a weight.
        let weight = match weight {
            Arg::Missing => 1.0,
            Arg::Given(w) => weight_of(&w)?,
        };
        self.change(|s| s.cluster.add_with(&bytes, weight, name).py().map(drop))
    }

    /// Removes a node; only its keys move. ``KeyError`` if unknown.
    fn remove(&self, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?.to_vec();
        self.change(|s| s.cluster.remove(&bytes).py().map(drop))
    }

    /// Changes a node's weight; keys move only to or from it.
    fn set_weight(&self, name: &Bound<'_, PyAny>, weight: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?.to_vec();
        let weight = weight_of(weight)?;
        self.change(|s| s.cluster.set_weight(&bytes, weight).py())
    }

    /// Marks a node down: lookups skip it and its keys go to their next
    /// replica, until ``mark_up``. Its points stay.
    fn mark_down(&self, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?.to_vec();
        self.change(|s| s.cluster.mark_down(&bytes).py())
    }

    /// Marks a node up: exactly the keys it had come back to it.
    fn mark_up(&self, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = str_bytes(name_of(name)?)?.to_vec();
        self.change(|s| s.cluster.mark_up(&bytes).py())
    }

    /// The weight of ``name`` (``KeyError`` if unknown).
    fn weight(&self, name: &Bound<'_, PyAny>) -> PyResult<f64> {
        let state = self.snapshot();
        let i = Self::require(&state, name)?;
        Ok(state.cluster[i].weight())
    }

    /// Whether ``name`` is up (``KeyError`` if unknown).
    fn is_up(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let state = self.snapshot();
        let i = Self::require(&state, name)?;
        Ok(state.cluster[i].is_up())
    }

    /// dict[str, float]: every node's weight, down nodes included.
    #[getter]
    fn nodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        weights_dict(py, &self.snapshot().nodes())
    }

    /// list[str]: the nodes marked down.
    #[getter]
    fn down<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let state = self.snapshot();
        PyList::new(py, state.down().iter().map(|n| n.bind(py)))
    }

    /// int | None: virtual nodes per unit weight (``algorithm="ring"`` only).
    #[getter]
    fn vnodes(&self) -> Option<u32> {
        algorithm::describe(&self.snapshot().algorithm).vnodes
    }

    /// int | None: the lookup table size (``algorithm="maglev"`` only).
    #[getter]
    fn table_size(&self) -> Option<u32> {
        algorithm::describe(&self.snapshot().algorithm).table_size
    }

    /// str: the placement algorithm.
    #[getter]
    fn algorithm(&self) -> &'static str {
        algorithm::describe(&self.snapshot().algorithm).name
    }

    /// The ring's points ``(position, name)`` in ring order (``algorithm="ring"``
    /// only): for tests, tools and cross-language checks.
    fn points<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let state = self.snapshot();
        let ring = state
            .cluster
            .placement()
            .as_ring()
            .ok_or_else(|| PyValueError::new_err("points() needs algorithm='ring'"))?;
        let items: Vec<Bound<'py, PyTuple>> = ring
            .points()
            .map(|(p, i)| {
                PyTuple::new(
                    py,
                    [
                        p.into_pyobject(py)?.into_any(),
                        state.name(i).bind(py).clone().into_any(),
                    ],
                )
            })
            .collect::<PyResult<_>>()?;
        PyList::new(py, items)
    }

    fn __len__(&self) -> usize {
        self.state.read().cluster.len()
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(name) = name.cast::<PyString>() else {
            return Ok(false);
        };
        let bytes = str_bytes(name)?;
        Ok(self.state.read().cluster.contains(&*bytes))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        let state = self.snapshot();
        let names = PyList::new(py, state.cluster.iter().map(|(_, n)| n.payload().bind(py)))?;
        names.try_iter()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let state = slf.get().snapshot();
        let cls = slf.get_type().qualname()?;
        let mut out = format!(
            "{cls}({}, {}",
            repr_nodes(py, &state.nodes())?,
            algorithm::repr_options(&state.algorithm)
        );
        let down = state.down();
        if !down.is_empty() && state.cluster.len() <= 8 {
            out.push_str(&format!(", down={}", repr_names(py, &down)?));
        } else if !down.is_empty() {
            out.push_str(&format!(", <{} down>", down.len()));
        }
        out.push(')');
        Ok(out)
    }

    fn __eq__(&self, other: &Bound<'_, PyRing>) -> bool {
        let a = self.snapshot();
        let b = other.get().snapshot();
        a.algorithm == b.algorithm
            && a.config() == b.config()
            // Jump: the same slots and removal history, or keys differ.
            && memento::layout(a.cluster.nodes(), a.cluster.placement(), &|i| {
                a.cluster.nodes().is_up(i)
            }) == memento::layout(b.cluster.nodes(), b.cluster.placement(), &|i| {
                b.cluster.nodes().is_up(i)
            })
    }

    /// Pickles the configuration: nodes, weights, down nodes, algorithm; a
    /// jump ring with free slots also its slots and removal history (see
    /// ``memento``), and a subclass its instance attributes.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let state = slf.get().snapshot();
        let nodes = state.cluster.nodes();
        let history = memento::to_py(py, nodes, state.cluster.placement(), &|i| nodes.is_up(i))?;
        let kwargs = PyDict::new(py);
        algorithm::to_kwargs(&state.algorithm, &kwargs)?;
        if history.is_some() {
            // The history holds the nodes, their slots and states.
            return reduce_with(
                slf.as_any(),
                PyTuple::new(py, [PyDict::new(py)])?,
                kwargs,
                history,
            );
        }
        let nodes = weights_dict(py, &state.nodes())?;
        let down = state.down();
        if !down.is_empty() {
            kwargs.set_item("down", PyList::new(py, down.iter().map(|n| n.bind(py)))?)?;
        }
        reduce_with(slf.as_any(), PyTuple::new(py, [nodes])?, kwargs, None)
    }

    /// Restores what ``__reduce__`` saved beyond the constructor's
    /// arguments: a jump ring's slots and removal history, and a subclass's
    /// attributes.
    fn __setstate__(slf: &Bound<'_, Self>, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let Some(history) = split_state(slf.as_any(), state)? else {
            return Ok(());
        };
        let history = memento::from_py(&history)?;
        let algorithm = slf.get().snapshot().algorithm.clone();
        let mut cluster = Cluster::with_placement(algorithm.placement().py()?);
        for (i, slot) in history.slots.iter().enumerate() {
            match &slot.node {
                Some((bytes, name)) => cluster.add_with(bytes, 1.0, name.clone()),
                None => cluster.add_with(
                    &memento::hole_name(i as u32),
                    1.0,
                    memento::hole_payload(py),
                ),
            }
            .py()?;
        }
        for &i in &history.freed {
            cluster.remove(&memento::hole_name(i)).py()?;
        }
        memento::check_slots(&history, cluster.nodes())?;
        for slot in &history.slots {
            if let (Some((bytes, _)), false) = (&slot.node, slot.up) {
                cluster.mark_down(bytes).py()?;
            }
        }
        *slf.get().state.write() = Arc::new(RingState { cluster, algorithm });
        Ok(())
    }
}
