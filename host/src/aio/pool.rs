//! `AsyncResult` as a future (`.await` it) and `IMap` as a [`Stream`](futures_core::Stream).
//!
//! The pool makes progress when its owner pumps it (dispatching queued tasks, collecting results,
//! replacing dead workers), so a pending result future pumps on every poll, waits on the pool's
//! result word through the reactor, and also re-polls every [`PARK_SLICE`] (the blocking `get`'s
//! slice) so that a worker killed mid-task turns into [`PoolError::WorkerDied`] as promptly as
//! for the blocking calls.

use super::reactor::{Keep, Registration, Source};
use crate::pool::{AsyncResult, IMap, PoolError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How often a pending pool future re-polls even without a wake-up (the blocking `get`'s slice).
const PARK_SLICE: Duration = Duration::from_millis(10);

/// Registers a wait for the next result of the pool behind `inner` (or wakes at once if one is
/// already waiting to be collected).
fn register<T>(
    inner: &Arc<Mutex<T>>,
    park: impl FnOnce(&T) -> (usize, u32, crate::Segment, bool),
    cx: &Context<'_>,
) -> Registration {
    let (addr, seq, seg, any) = {
        let g = inner.lock().unwrap_or_else(|e| e.into_inner());
        park(&g)
    };
    let deadline = Some(Instant::now() + if any { Duration::ZERO } else { PARK_SLICE });
    Registration::new(
        Source::Futex { addr, expected: seq },
        deadline,
        None,
        Keep::Segment(seg),
        cx.waker(),
    )
}

/// The future of [`AsyncResult::get_async`] (the same as awaiting the `AsyncResult` itself).
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct ResultFuture<R: Serialize + DeserializeOwned + Send + 'static> {
    r: AsyncResult<R>,
}

impl<R: Serialize + DeserializeOwned + Send + 'static> Unpin for ResultFuture<R> {}

impl<R: Serialize + DeserializeOwned + Send + 'static> Future for ResultFuture<R> {
    type Output = Result<R, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().r).poll(cx)
    }
}

// Nothing is pinned structurally: the result holds a handle, plain values and a registration.
impl<R: Serialize + DeserializeOwned + Send + 'static> Unpin for AsyncResult<R> {}

/// `pool.apply_async(f, x)?.await`: the result without blocking a thread (see [`crate::aio`]).
/// A worker killed mid-task gives [`PoolError::WorkerDied`], as for [`AsyncResult::get`].
impl<R: Serialize + DeserializeOwned + Send + 'static> Future for AsyncResult<R> {
    type Output = Result<R, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if super::still_pending(&mut this.reg, cx) {
            return Poll::Pending;
        }
        if let Some(r) = this.try_result() {
            return Poll::Ready(r);
        }
        let reg = register(
            this.pool_inner(),
            |g| {
                let (w, seq, seg, any) = g.async_park();
                (w as *const _ as usize, seq, seg, any)
            },
            cx,
        );
        this.reg = Some(reg);
        // A result that arrived between the pump and the registration: the kernel's compare of the
        // word, or the `any` check, catches it; one more look is cheap.
        if let Some(r) = this.try_result() {
            this.reg = None;
            return Poll::Ready(r);
        }
        Poll::Pending
    }
}

/// The [`Stream`](futures_core::Stream) of [`IMap::into_stream`]: results in input order.
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct IMapStream<R: Serialize + DeserializeOwned + Send + 'static> {
    it: IMap<R>,
    reg: Option<Registration>,
}

impl<R: Serialize + DeserializeOwned + Send + 'static> Unpin for IMapStream<R> {}

impl<R: Serialize + DeserializeOwned + Send + 'static> IMapStream<R> {
    /// The next result in input order (`None` after the last), without blocking a thread: the
    /// stream's `next` for users without a stream-extension crate.
    pub async fn next_async(&mut self) -> Option<Result<R, PoolError>> {
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> futures_core::Stream for IMapStream<R> {
    type Item = Result<R, PoolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if super::still_pending(&mut this.reg, cx) {
            return Poll::Pending;
        }
        if let Some(r) = this.it.try_next() {
            return Poll::Ready(r);
        }
        this.reg = Some(register(
            this.it.pool_inner(),
            |g| {
                let (w, seq, seg, any) = g.async_park();
                (w as *const _ as usize, seq, seg, any)
            },
            cx,
        ));
        if let Some(r) = this.it.try_next() {
            this.reg = None;
            return Poll::Ready(r);
        }
        Poll::Pending
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> IMap<R> {
    /// The results as a [`Stream`](futures_core::Stream) (in input order), awaited without blocking
    /// a thread (see [`crate::aio`]).
    ///
    /// ```
    /// fn double(x: u64) -> u64 { 2 * x }
    /// let pool = ringfork::Pool::new(2)?;
    /// let mut s = pool.imap(double, 0..5u64, None)?.into_stream();
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// let got = rt.block_on(async {
    ///     let mut v = Vec::new();
    ///     while let Some(r) = s.next_async().await {
    ///         v.push(r?);
    ///     }
    ///     Ok::<_, ringfork::PoolError>(v)
    /// })?;
    /// assert_eq!(got, vec![0, 2, 4, 6, 8]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_stream(self) -> IMapStream<R> {
        IMapStream { it: self, reg: None }
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> AsyncResult<R> {
    /// The result without blocking a thread (the same as `.await` on the `AsyncResult`; see
    /// [`crate::aio`]). A worker killed mid-task gives [`PoolError::WorkerDied`], as for
    /// [`Self::get`].
    ///
    /// ```
    /// fn square(x: u64) -> u64 { x * x }
    /// let pool = ringfork::Pool::new(2)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// let (a, b) = rt.block_on(async {
    ///     let a = pool.apply_async(square, 3u64)?;
    ///     let b = pool.apply_async(square, 4u64)?;
    ///     Ok::<_, ringfork::PoolError>((a.await?, b.get_async().await?))
    /// })?;
    /// assert_eq!((a, b), (9, 16));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_async(self) -> ResultFuture<R> {
        ResultFuture { r: self }
    }
}
