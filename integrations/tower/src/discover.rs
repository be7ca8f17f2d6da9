//! Membership from a [`tower::discover::Discover`] stream, for those who
//! already have one: each inserted service joins the router under its key,
//! each removed key leaves.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;

use parking_lot::RwLock;
use ringroute::router::Router;
use tower::discover::{Change, Discover};

use crate::error::BoxError;

/// The services a discover stream handed over, by name: drive it with
/// [`run`](Discovered::run) and build the service with
/// [`factory`](Discovered::factory).
///
/// ```
/// use ringroute::router::Router;
/// use ringroute_tower::{RingrouteService, discover::Discovered};
/// use tower::discover::Change;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ringroute_tower::BoxError> {
/// let router: Router = Router::builder().build()?;
/// let discovered = Discovered::new();
/// let service = RingrouteService::builder(router.clone(), discovered.factory()).build();
/// // Any stream of `Change`s is a `Discover`; here two backends join.
/// let changes = tokio_stream::iter([
///     Ok::<_, std::convert::Infallible>(Change::Insert("10.0.0.1:50051", ringroute_tower::lazy_channel("10.0.0.1:50051")?)),
///     Ok(Change::Insert("10.0.0.2:50051", ringroute_tower::lazy_channel("10.0.0.2:50051")?)),
/// ]);
/// discovered.run(router.clone(), changes).await?;
/// assert_eq!(router.snapshot().nodes().len(), 2);
/// # drop(service);
/// # Ok(())
/// # }
/// ```
pub struct Discovered<S> {
    services: Arc<RwLock<HashMap<String, S>>>,
}

impl<S> Clone for Discovered<S> {
    fn clone(&self) -> Self {
        Discovered {
            services: Arc::clone(&self.services),
        }
    }
}

impl<S> Default for Discovered<S> {
    fn default() -> Self {
        Discovered {
            services: Arc::new(RwLock::new(HashMap::new())),
        }
    }
}

impl<S> std::fmt::Debug for Discovered<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<String> = self.services.read().keys().cloned().collect();
        names.sort();
        f.debug_struct("Discovered").field("names", &names).finish()
    }
}

impl<S: Clone + Send + Sync + 'static> Discovered<S> {
    /// No services yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The factory for [`RingrouteService::builder`](crate::RingrouteService::builder):
    /// the service discovered under a node's name.
    pub fn factory(&self) -> impl Fn(&str) -> Result<S, BoxError> + Send + Sync + 'static {
        let services = Arc::clone(&self.services);
        move |name| {
            services
                .read()
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no discovered service named {name:?}").into())
        }
    }

    /// Applies the stream's changes to `router` (weight 1) until it ends.
    /// A key inserted again replaces the stored service; the router keeps
    /// the node (and the service already in use) as it is.
    pub async fn run<D, T>(&self, router: Router<T>, discover: D) -> Result<(), BoxError>
    where
        D: Discover<Service = S>,
        D::Key: Display,
        D::Error: Into<BoxError>,
        T: Clone + Send + Sync + Default + 'static,
    {
        let mut discover = Box::pin(discover);
        while let Some(change) =
            std::future::poll_fn(|cx| discover.as_mut().poll_discover(cx)).await
        {
            match change.map_err(Into::into)? {
                Change::Insert(key, service) => {
                    let name = key.to_string();
                    self.services.write().insert(name.clone(), service);
                    if router.snapshot().index_of(&name).is_none() {
                        router.add(&name, 1.0)?;
                    }
                }
                Change::Remove(key) => {
                    let name = key.to_string();
                    self.services.write().remove(&name);
                    if router.snapshot().index_of(&name).is_some() {
                        router.remove(&name)?;
                    }
                }
            }
        }
        Ok(())
    }
}
