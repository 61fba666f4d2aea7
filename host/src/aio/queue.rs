//! `get_async` / `put_async` on [`Queue`], [`SimpleQueue`] and [`JoinableQueue`].

use super::reactor::{Keep, Liveness, Probe};
use super::{Attempt, BusyClock, Expect, WordWait};
use crate::queue::{JoinableQueue, PopError, PushError, Queue, SimpleQueue};
use ringfork_core::queue::peers::SideState;
use ringfork_core::ShmSafe;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The liveness probe of a wait on `q`: give up once the queue is closed or every process other than
/// this one that holds the other side (`producers` for a getter) is dead.
fn probe<T: ShmSafe>(q: &Queue<T>, producers: bool) -> Probe {
    let q = q.clone();
    let me = std::process::id();
    Box::new(move |live: &mut Liveness| {
        let ctrl = q.ctrl();
        let table = if producers { &ctrl.producers } else { &ctrl.consumers };
        q.is_closed() || table.others_state_with(me, |pid, start| live.alive(pid, start)) == SideState::AllDead
    })
}

/// The future of [`Queue::get_async`] (and of the other queues' `get_async`).
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct GetFuture<'a, T: ShmSafe> {
    q: &'a Queue<T>,
    wait: WordWait,
    clock: BusyClock,
}

// Nothing is pinned structurally: the futures hold handles and plain values.
impl<T: ShmSafe> Unpin for GetFuture<'_, T> {}
impl<T: ShmSafe> Unpin for PutFuture<'_, T> {}
impl<T: ShmSafe> Unpin for JoinableGetFuture<'_, T> {}

impl<T: ShmSafe> Future for GetFuture<'_, T> {
    type Output = Result<T, PopError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (q, clock) = (this.q, &mut this.clock);
        this.wait.poll(
            cx,
            q.ctrl().control.not_empty.wait_word(),
            Expect::Snapshot,
            || Keep::Segment(q.segment().clone()),
            || Some(probe(q, true)),
            || {
                let busy = Cell::new(false);
                let read = |p: *const u8| {
                    // SAFETY: the slot payload is aligned for T and holds size_of::<T>() bytes (the
                    // queue's layout); T is ShmSafe, so any bytes are a valid T.
                    unsafe { (p as *const T).read_volatile() }
                };
                match q.raw().try_pop_busy(&busy, read) {
                    Err(PopError::Empty) => {
                        if clock.note(busy.get()) {
                            // A producer stopped mid-write for a probe interval: force it past if dead.
                            q.recover();
                        }
                        Attempt::Blocked { busy: busy.get() }
                    }
                    r => Attempt::Done(r),
                }
            },
            || Err(PopError::Disconnected),
        )
    }
}

/// The future of [`Queue::put_async`] (and of the other queues' `put_async`).
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct PutFuture<'a, T: ShmSafe> {
    q: &'a Queue<T>,
    v: T,
    wait: WordWait,
    clock: BusyClock,
}

impl<T: ShmSafe> Future for PutFuture<'_, T> {
    type Output = Result<(), PushError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (q, v, clock) = (this.q, this.v, &mut this.clock);
        this.wait.poll(
            cx,
            q.ctrl().control.not_full.wait_word(),
            Expect::Snapshot,
            || Keep::Segment(q.segment().clone()),
            || Some(probe(q, false)),
            || {
                let busy = Cell::new(false);
                let write = |p: *mut u8| {
                    // SAFETY: the slot payload is aligned for T and holds size_of::<T>() bytes.
                    unsafe { (p as *mut T).write_volatile(v) }
                };
                match q.raw().try_push_busy(&busy, write) {
                    Err(PushError::Full) => {
                        if clock.note(busy.get()) {
                            // A consumer stopped mid-read for a probe interval: force it past if dead.
                            q.recover();
                        }
                        Attempt::Blocked { busy: busy.get() }
                    }
                    r => Attempt::Done(r),
                }
            },
            || Err(PushError::Closed),
        )
    }
}

impl<T: ShmSafe> Queue<T> {
    /// Takes the oldest item, awaiting one without blocking a thread (see [`crate::aio`]).
    ///
    /// Cancel safe: a dropped future has taken nothing. Fails as [`Self::get`] does:
    /// [`PopError::Closed`] once closed and drained, [`PopError::Disconnected`] once the queue is
    /// empty and every *other* process that held it has died (this process never counts as its
    /// own peer here; see [`crate::aio`]).
    ///
    /// ```
    /// let q = ringfork::Queue::<u32>::new(2)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// q.put(5)?;
    /// assert_eq!(rt.block_on(q.get_async())?, 5);
    /// // Timeouts are the runtime's: nothing arrives, the future is dropped, nothing is lost.
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    /// let r = rt.block_on(async { tokio::time::timeout(std::time::Duration::from_millis(10), q.get_async()).await });
    /// assert!(r.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "get")]
    pub fn get_async(&self) -> GetFuture<'_, T> {
        GetFuture {
            q: self,
            wait: WordWait::default(),
            clock: BusyClock::default(),
        }
    }

    /// Puts `v`, awaiting room without blocking a thread (see [`crate::aio`]).
    ///
    /// A dropped future put nothing (and drops `v`). Fails as [`Self::put`] does:
    /// [`PushError::Closed`] if the queue is closed, or it is full and every other process that held
    /// it has died.
    ///
    /// ```
    /// let q = ringfork::Queue::<u32>::new(1)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(q.put_async(1))?;
    /// assert_eq!(q.try_get()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "put")]
    pub fn put_async(&self, v: T) -> PutFuture<'_, T> {
        PutFuture {
            q: self,
            v,
            wait: WordWait::default(),
            clock: BusyClock::default(),
        }
    }
}

impl<T: ShmSafe> SimpleQueue<T> {
    /// [`Queue::get_async`] on this queue (cancel safe).
    ///
    /// ```
    /// let q = ringfork::SimpleQueue::<u32>::new()?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(async { q.put_async(3).await?; q.get_async().await.map_err(Into::into) })
    ///     .map(|v: u32| assert_eq!(v, 3))
    ///     .map_err(|e: Box<dyn std::error::Error>| e)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_async(&self) -> GetFuture<'_, T> {
        self.inner().get_async()
    }

    /// [`Queue::put_async`] on this queue.
    pub fn put_async(&self, v: T) -> PutFuture<'_, T> {
        self.inner().put_async(v)
    }
}

/// The future of [`JoinableQueue::get_async`]: a [`GetFuture`] that counts the item taken as an
/// unfinished task of this process (as [`JoinableQueue::get`]).
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct JoinableGetFuture<'a, T: ShmSafe> {
    jq: &'a JoinableQueue<T>,
    get: GetFuture<'a, T>,
}

impl<T: ShmSafe> Future for JoinableGetFuture<'_, T> {
    type Output = Result<T, PopError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.get).poll(cx) {
            Poll::Ready(r) => Poll::Ready(this.jq.taken_async(r)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ShmSafe> JoinableQueue<T> {
    /// [`JoinableQueue::get`] without blocking a thread (cancel safe; see [`Queue::get_async`]).
    ///
    /// ```
    /// let q = ringfork::JoinableQueue::<u32>::new(2)?;
    /// q.put(9)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert_eq!(rt.block_on(q.get_async())?, 9);
    /// q.task_done()?;
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_async(&self) -> JoinableGetFuture<'_, T> {
        JoinableGetFuture {
            jq: self,
            get: self.queue().get_async(),
        }
    }
}

/// The future of [`JoinableQueue::join_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct JoinFuture<'a, T: ShmSafe> {
    jq: &'a JoinableQueue<T>,
    wait: WordWait,
}

impl<T: ShmSafe> Unpin for JoinFuture<'_, T> {}

impl<T: ShmSafe> Future for JoinFuture<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let q = this.jq.queue();
        let ctrl = q.ctrl();
        this.wait.poll(
            cx,
            ctrl.control.tasks_wait_word(),
            Expect::Snapshot,
            || Keep::Segment(q.segment().clone()),
            || {
                // Once per probe interval (on the reactor thread): take over the tasks of consumers
                // that died before their `task_done`, as the blocking `join` does.
                let q = q.clone();
                Some(Box::new(move |_: &mut Liveness| {
                    let ctrl = q.ctrl();
                    let n = ctrl.consumers.reclaim_pending();
                    ctrl.control.reclaim_tasks::<ringfork_core::wait::DefaultWait>(n);
                    ctrl.control.unfinished_tasks() == 0
                }) as Probe)
            },
            || {
                if ctrl.control.unfinished_tasks() == 0 {
                    Attempt::Done(())
                } else {
                    Attempt::Blocked { busy: false }
                }
            },
            || (),
        )
    }
}

impl<T: ShmSafe> JoinableQueue<T> {
    /// [`JoinableQueue::join`] without blocking a thread: completes once every item put has been
    /// marked done, or accounted as lost with a consumer that died before its `task_done` (checked
    /// once per [`super::PROBE_INTERVAL`]). Cancel safe.
    ///
    /// ```
    /// let q = ringfork::JoinableQueue::<u32>::new(2)?;
    /// q.put(1)?;
    /// let q2 = q.clone();
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(async move {
    ///     let joiner = tokio::spawn(async move { q2.join_async().await });
    ///     assert_eq!(q.get_async().await.unwrap(), 1);
    ///     q.task_done().unwrap();
    ///     joiner.await
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "join")]
    pub fn join_async(&self) -> JoinFuture<'_, T> {
        JoinFuture {
            jq: self,
            wait: WordWait::default(),
        }
    }
}
