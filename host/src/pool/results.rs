//! Handles to results that arrive later: [`AsyncResult`], [`MapResult`], [`IMap`],
//! [`IMapUnordered`]. Waiting on any of them drives the pool (dispatch, collect, replace dead
//! workers): the pool has no background threads.

use super::inner::{Inner, PARK_SLICE};
use super::PoolError;
use crate::encoding::{Codec, Serde};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Decodes one result (a [`PoolError::Decode`] if its bytes are not an `R`).
pub(crate) fn decode<R: Serialize + DeserializeOwned + Send + 'static>(bytes: &[u8]) -> Result<R, PoolError> {
    <Serde as Codec<R>>::decode_slice(bytes).map_err(PoolError::Decode)
}

/// Decodes one result from an owned buffer (no copy for `String`/`Vec<u8>`).
fn decode_owned<R: Serialize + DeserializeOwned + Send + 'static>(bytes: Vec<u8>) -> Result<R, PoolError> {
    <Serde as Codec<R>>::decode_vec(bytes).map_err(PoolError::Decode)
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

/// Drives the pool until `done(inner)` returns `Some`, or `timeout` passes (`None`: forever).
fn drive<T>(
    inner: &Mutex<Inner>,
    timeout: Option<Duration>,
    mut done: impl FnMut(&mut Inner) -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        {
            let mut g = lock(inner);
            if let Some(v) = done(&mut g) {
                return Some(v);
            }
            let left = match timeout {
                Some(t) => {
                    let el = start.elapsed();
                    if el >= t {
                        return None;
                    }
                    (t - el).min(PARK_SLICE)
                }
                None => PARK_SLICE,
            };
            g.pump(left);
            if let Some(v) = done(&mut g) {
                return Some(v);
            }
        }
        // Let other threads that share the pool take the lock between slices.
        std::thread::yield_now();
    }
}

/// The result of [`super::Pool::apply_async`] (Python's `AsyncResult`).
///
/// ```
/// use ringfork::Pool;
/// use std::time::Duration;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let pool = Pool::new(1)?;
///     let r = pool.apply_async(square, 12)?;
///     assert!(r.wait_timeout(Duration::from_secs(30)));
///     assert!(r.ready());
///     assert_eq!(r.successful()?, true);
///     assert_eq!(r.get()?, 144);
///     pool.close();
///     pool.join()?;
///     Ok(())
/// }
/// ```
pub struct AsyncResult<R: Serialize + DeserializeOwned + Send + 'static> {
    inner: Arc<Mutex<Inner>>,
    job: u64,
    _r: PhantomData<fn() -> R>,
    /// Awaited (`impl Future`, feature `async`): the pending wait on the pool's result word.
    #[cfg(feature = "async")]
    pub(crate) reg: Option<crate::aio::reactor::Registration>,
}

impl<R: Serialize + DeserializeOwned + Send + 'static> std::fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult").field("job", &self.job).finish()
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> AsyncResult<R> {
    pub(crate) fn new(inner: Arc<Mutex<Inner>>, job: u64) -> Self {
        AsyncResult {
            inner,
            job,
            _r: PhantomData,
            #[cfg(feature = "async")]
            reg: None,
        }
    }

    fn fetch(&self, g: &mut Inner) -> Option<Result<R, PoolError>> {
        g.item(self.job, 0, false).map(|r| r.and_then(|b| decode_owned::<R>(b)))
    }

    /// Waits for the result.
    pub fn get(&self) -> Result<R, PoolError> {
        drive(&self.inner, None, |g| self.fetch(g)).unwrap_or(Err(PoolError::Terminated))
    }

    /// Waits at most `timeout`: [`PoolError::TimedOut`] if the task has not finished by then (it goes on;
    /// a later `get` still returns its result).
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, PoolError> {
        drive(&self.inner, Some(timeout), |g| self.fetch(g)).unwrap_or(Err(PoolError::TimedOut))
    }

    /// Waits until the result is ready.
    pub fn wait(&self) {
        let _ = drive(&self.inner, None, |g| g.job_done(self.job).then_some(()));
    }

    /// Waits at most `timeout`; returns whether the result is ready.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        drive(&self.inner, Some(timeout), |g| g.job_done(self.job).then_some(())).is_some()
    }

    /// Whether the result is ready (makes progress without blocking).
    pub fn ready(&self) -> bool {
        let mut g = lock(&self.inner);
        g.pump(Duration::ZERO);
        g.job_done(self.job)
    }

    /// Whether the task succeeded; [`PoolError::NotReady`] if it has not finished (Python raises
    /// ValueError there).
    pub fn successful(&self) -> Result<bool, PoolError> {
        if !self.ready() {
            return Err(PoolError::NotReady);
        }
        Ok(lock(&self.inner).job_error(self.job).is_none())
    }
}

#[cfg(feature = "async")]
impl<R: Serialize + DeserializeOwned + Send + 'static> AsyncResult<R> {
    /// The result if it is ready now, after one non-blocking pump (for `crate::aio`).
    pub(crate) fn try_result(&self) -> Option<Result<R, PoolError>> {
        let mut g = lock(&self.inner);
        g.pump(Duration::ZERO);
        if g.terminated() && !g.job_done(self.job) {
            return Some(Err(PoolError::Terminated));
        }
        self.fetch(&mut g)
    }

    /// The pool state (for `crate::aio`).
    pub(crate) fn pool_inner(&self) -> &Arc<Mutex<Inner>> {
        &self.inner
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> Drop for AsyncResult<R> {
    fn drop(&mut self) {
        lock(&self.inner).forget(self.job);
    }
}

/// The result of [`super::Pool::map_async`].
///
/// ```
/// use ringfork::Pool;
/// use std::time::Duration;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let pool = Pool::new(2)?;
///     let m = pool.map_async(square, 1..=6u64, Some(2))?; // three tasks of two items
///     assert_eq!(m.get_timeout(Duration::from_secs(30))?, vec![1, 4, 9, 16, 25, 36]);
///     assert!(m.ready());
///     pool.close();
///     pool.join()?;
///     Ok(())
/// }
/// ```
pub struct MapResult<R: Serialize + DeserializeOwned + Send + 'static> {
    inner: Arc<Mutex<Inner>>,
    job: u64,
    _r: PhantomData<fn() -> R>,
}

impl<R: Serialize + DeserializeOwned + Send + 'static> std::fmt::Debug for MapResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapResult").field("job", &self.job).finish()
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> MapResult<R> {
    pub(crate) fn new(inner: Arc<Mutex<Inner>>, job: u64) -> Self {
        MapResult {
            inner,
            job,
            _r: PhantomData,
        }
    }

    fn fetch(&self, g: &mut Inner) -> Option<Result<Vec<R>, PoolError>> {
        if !g.job_done(self.job) {
            return None;
        }
        if let Some(e) = g.job_error(self.job) {
            return Some(Err(e));
        }
        let (n, store) = g.job_results(self.job)?;
        Some((0..n).map(|i| decode::<R>(store.get(i))).collect())
    }

    /// Waits for every result, in input order; the first failure if any task failed.
    pub fn get(&self) -> Result<Vec<R>, PoolError> {
        drive(&self.inner, None, |g| self.fetch(g)).unwrap_or(Err(PoolError::Terminated))
    }

    /// As `get`, but at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<R>, PoolError> {
        drive(&self.inner, Some(timeout), |g| self.fetch(g)).unwrap_or(Err(PoolError::TimedOut))
    }

    /// Whether every result is ready.
    pub fn ready(&self) -> bool {
        let mut g = lock(&self.inner);
        g.pump(Duration::ZERO);
        g.job_done(self.job)
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> Drop for MapResult<R> {
    fn drop(&mut self) {
        lock(&self.inner).forget(self.job);
    }
}

/// Ordered lazy results of [`super::Pool::imap`].
///
/// ```
/// use ringfork::Pool;
/// use std::time::Duration;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let pool = Pool::new(2)?;
///     let mut it = pool.imap(square, 0..5u64, Some(1))?;
///     assert_eq!(it.next_timeout(Duration::from_secs(30)), Some(Ok(0)));
///     let rest = it.collect::<Result<Vec<_>, _>>()?; // in input order
///     assert_eq!(rest, vec![1, 4, 9, 16]);
///     pool.close();
///     pool.join()?;
///     Ok(())
/// }
/// ```
pub struct IMap<R: Serialize + DeserializeOwned + Send + 'static> {
    inner: Arc<Mutex<Inner>>,
    job: u64,
    next: usize,
    total: usize,
    _r: PhantomData<fn() -> R>,
}

impl<R: Serialize + DeserializeOwned + Send + 'static> std::fmt::Debug for IMap<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMap")
            .field("next", &self.next)
            .field("total", &self.total)
            .finish()
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> IMap<R> {
    pub(crate) fn new(inner: Arc<Mutex<Inner>>, job: u64, total: usize) -> Self {
        IMap {
            inner,
            job,
            next: 0,
            total,
            _r: PhantomData,
        }
    }

    /// The next result, waiting at most `timeout` (Python's `next(timeout)`).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, PoolError>> {
        if self.next >= self.total {
            return None;
        }
        let i = self.next;
        let r = drive(&self.inner, Some(timeout), |g| {
            g.item(self.job, i, true).map(|r| r.and_then(|b| decode_owned::<R>(b)))
        })
        .unwrap_or(Err(PoolError::TimedOut));
        if !matches!(r, Err(PoolError::TimedOut)) {
            self.next += 1;
        }
        Some(r)
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> Iterator for IMap<R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.total {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some(
            drive(&self.inner, None, |g| {
                if g.terminated() && !g.job_done(self.job) {
                    return Some(Err(PoolError::Terminated));
                }
                g.item(self.job, i, true).map(|r| r.and_then(|b| decode_owned::<R>(b)))
            })
            .unwrap_or(Err(PoolError::Terminated)),
        )
    }
}

#[cfg(feature = "async")]
impl<R: Serialize + DeserializeOwned + Send + 'static> IMap<R> {
    /// The next result if it is ready now, after one non-blocking pump (`Some(None)`: the end), for
    /// `crate::aio`.
    pub(crate) fn try_next(&mut self) -> Option<Option<Result<R, PoolError>>> {
        if self.next >= self.total {
            return Some(None);
        }
        let mut g = lock(&self.inner);
        g.pump(Duration::ZERO);
        let r = if g.terminated() && !g.job_done(self.job) {
            Some(Err(PoolError::Terminated))
        } else {
            g.item(self.job, self.next, true)
                .map(|r| r.and_then(|b| decode_owned::<R>(b)))
        };
        drop(g);
        if r.is_some() {
            self.next += 1;
        }
        r.map(Some)
    }

    /// The pool state (for `crate::aio`).
    pub(crate) fn pool_inner(&self) -> &Arc<Mutex<Inner>> {
        &self.inner
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> Drop for IMap<R> {
    fn drop(&mut self) {
        lock(&self.inner).forget(self.job);
    }
}

/// Completion-order results of [`super::Pool::imap_unordered`]: `(input index, result)`.
///
/// ```
/// use ringfork::Pool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let pool = Pool::new(2)?;
///     let mut got = Vec::new();
///     for (index, result) in pool.imap_unordered(square, 0..5u64, Some(1))? {
///         got.push((index, result?));
///     }
///     got.sort_unstable(); // completion order varies; each index comes exactly once
///     assert_eq!(got, vec![(0, 0), (1, 1), (2, 4), (3, 9), (4, 16)]);
///     pool.close();
///     pool.join()?;
///     Ok(())
/// }
/// ```
pub struct IMapUnordered<R: Serialize + DeserializeOwned + Send + 'static> {
    inner: Arc<Mutex<Inner>>,
    job: u64,
    yielded: usize,
    total: usize,
    _r: PhantomData<fn() -> R>,
}

impl<R: Serialize + DeserializeOwned + Send + 'static> std::fmt::Debug for IMapUnordered<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMapUnordered")
            .field("yielded", &self.yielded)
            .field("total", &self.total)
            .finish()
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> IMapUnordered<R> {
    pub(crate) fn new(inner: Arc<Mutex<Inner>>, job: u64, total: usize) -> Self {
        IMapUnordered {
            inner,
            job,
            yielded: 0,
            total,
            _r: PhantomData,
        }
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> Iterator for IMapUnordered<R> {
    type Item = (usize, Result<R, PoolError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.yielded >= self.total {
            return None;
        }
        self.yielded += 1;
        drive(&self.inner, None, |g| {
            let i = g.next_completed(self.job)?;
            let r = g.item(self.job, i, true)?;
            Some((i, r.and_then(|b| decode_owned::<R>(b))))
        })
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> Drop for IMapUnordered<R> {
    fn drop(&mut self) {
        lock(&self.inner).forget(self.job);
    }
}
