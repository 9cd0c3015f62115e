//! [`PerService`]: one value per service, indexed by [`ServiceKind`].

use std::ops::{Index, IndexMut};

use crate::service::ServiceKind;

/// One `T` for each of the five services, indexed by [`ServiceKind`]: the configuration's
/// service blocks, a resolution's services, a builder's overrides, the clients.
///
/// ```
/// use extsvc::config::{PerService, ServiceKind};
///
/// let mut timeouts = PerService::from_fn(|kind| if kind == ServiceKind::Health { 2 } else { 10 });
/// timeouts[ServiceKind::Oauth] = 5;
/// assert_eq!(timeouts[ServiceKind::Health], 2);
/// assert_eq!(timeouts.iter().map(|(_, t)| t).sum::<u32>(), 2 + 5 + 10 * 3);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PerService<T>([T; 5]);

impl<T> PerService<T> {
    /// `f(kind)` for every kind, in [`ServiceKind::ALL`] order.
    pub fn from_fn(f: impl FnMut(ServiceKind) -> T) -> PerService<T> {
        PerService(ServiceKind::ALL.map(f))
    }

    /// Every kind with its value, in [`ServiceKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (ServiceKind, &T)> {
        ServiceKind::ALL.into_iter().zip(&self.0)
    }

    /// The values, in [`ServiceKind::ALL`] order.
    pub fn values(&self) -> &[T] {
        &self.0
    }

    /// `f` applied to every value.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PerService<U> {
        PerService(self.0.map(f))
    }

    /// A `PerService` of references.
    pub fn each_ref(&self) -> PerService<&T> {
        PerService(self.0.each_ref())
    }
}

impl<T> Index<ServiceKind> for PerService<T> {
    type Output = T;

    fn index(&self, kind: ServiceKind) -> &T {
        &self.0[kind.index()]
    }
}

impl<T> IndexMut<ServiceKind> for PerService<T> {
    fn index_mut(&mut self, kind: ServiceKind) -> &mut T {
        &mut self.0[kind.index()]
    }
}
