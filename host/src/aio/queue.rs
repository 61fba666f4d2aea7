//! `get_async` / `put_async` on [`Queue`], [`SimpleQueue`] and [`JoinableQueue`].

use super::reactor::{Keep, Liveness, Probe};
use super::{Attempt, BusyClock, Expect, WordWait};
use crate::encoding::{Encoding, Serde};
use crate::queue::{JoinableQueue, PopError, PushError, Queue, SimpleQueue};
use ringfork_core::queue::peers::SideState;
use ringfork_core::wait::DefaultWait;
use ringfork_core::Deadline;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The liveness probe of a wait on `q`: give up once the queue is closed or every process other than
/// this one that holds the other side (`producers` for a getter) is dead.
fn probe<T: 'static, E: Encoding<T>>(q: &Queue<T, E>, producers: bool) -> Probe {
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
pub struct GetFuture<'a, T, E: Encoding<T> = Serde> {
    q: &'a Queue<T, E>,
    /// A `JoinableQueue`'s get: the item taken is counted as an unfinished task of this process
    /// inside the ring's pop (as [`JoinableQueue::get`]).
    joinable: Option<&'a JoinableQueue<T, E>>,
    wait: WordWait,
    clock: BusyClock,
}

// Nothing is pinned structurally: the futures hold handles and plain values.
impl<T, E: Encoding<T>> Unpin for GetFuture<'_, T, E> {}
impl<T, E: Encoding<T>> Unpin for PutFuture<'_, T, E> {}
impl<T, E: Encoding<T>> Unpin for JoinableGetFuture<'_, T, E> {}

impl<T: 'static, E: Encoding<T>> Future for GetFuture<'_, T, E> {
    type Output = Result<T, PopError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (q, joinable, clock) = (this.q, this.joinable, &mut this.clock);
        this.wait.poll(
            cx,
            q.ctrl().control.not_empty.wait_word(),
            Expect::Snapshot,
            || Keep::Segment(q.segment().clone()),
            || Some(probe(q, true)),
            || {
                let busy = Cell::new(false);
                // One non-blocking take, as `try_get` (a large message taken is read to its end
                // while its stream progresses), with the ring's "about to change" flag.
                let r = match joinable {
                    Some(jq) => jq.get_any(Deadline::Immediate, Some(&busy)),
                    None => q.get_any(Deadline::Immediate, Some(&busy), &|_| {}),
                };
                match r {
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
pub struct PutFuture<'a, T, E: Encoding<T> = Serde> {
    q: &'a Queue<T, E>,
    /// The value, until it is put or handed to the large-message thread.
    v: Option<T>,
    wait: WordWait,
    clock: BusyClock,
    /// A message streamed through the large-message lane by a thread of its own.
    large: Option<Arc<LargePut>>,
    /// A `JoinableQueue`'s put: one unfinished task is counted before the item goes in (as
    /// [`JoinableQueue::put`]) and taken back if the put fails or the future is dropped first.
    task: Task,
}

/// The unfinished-task accounting of a `JoinableQueue`'s `put_async`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// A plain queue's put: no task.
    None,
    /// A joinable put that has not counted its task yet.
    Uncounted,
    /// Counted; taken back unless the item goes in.
    Counted,
    /// Settled (the item went in, the count was taken back, or a thread owns the outcome).
    Settled,
}

impl<T, E: Encoding<T>> Drop for PutFuture<'_, T, E> {
    fn drop(&mut self) {
        if self.task == Task::Counted {
            // Dropped before the item went in (and no thread took it over): nothing was put.
            self.q.ctrl().control.undo_task::<DefaultWait>();
        }
    }
}

/// The outcome of a large message's `put` on its thread, and the waker of the future awaiting it.
#[derive(Debug, Default)]
struct LargePut {
    state: Mutex<LargeState>,
}

/// The put's outcome once the thread has it, and the waker to call then.
#[derive(Debug, Default)]
struct LargeState {
    outcome: Option<Result<(), PushError>>,
    waker: Option<Waker>,
}

impl LargePut {
    fn finish(&self, r: Result<(), PushError>) {
        let waker = {
            let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
            g.outcome = Some(r);
            g.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<(), PushError>> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match g.outcome.take() {
            Some(r) => Poll::Ready(r),
            None => {
                g.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T: Send + 'static, E: Encoding<T>> Future for PutFuture<'_, T, E> {
    type Output = Result<(), PushError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(large) = &this.large {
            return large.poll(cx);
        }
        let q = this.q;
        let Some(v) = this.v.as_ref() else {
            // Polled again after it completed: the value is gone.
            return Poll::Ready(Err(PushError::Closed));
        };
        if this.task == Task::Uncounted {
            if let Err(e) = q.ctrl().control.add_task() {
                this.v = None;
                this.task = Task::Settled;
                return Poll::Ready(Err(e));
            }
            this.task = Task::Counted;
        }
        match q.needs_lane(v) {
            Err(e) => {
                this.v = None;
                this.settle(false);
                return Poll::Ready(Err(e));
            }
            Ok(true) => {
                // A message larger than a slot is streamed through the lane, which takes as long
                // as the consumers take to read it: a short-lived thread does the blocking `put`
                // (so the executor never waits on a reader that may be a task on this very thread).
                let large = Arc::new(LargePut::default());
                let value = Arc::new(Mutex::new(this.v.take()));
                let (q2, v2, done) = (q.clone(), value.clone(), large.clone());
                let counted = this.task == Task::Counted;
                let put = move |q: &Queue<T, E>, v: T| {
                    let r = q.put(v);
                    if r.is_err() && counted {
                        q.ctrl().control.undo_task::<DefaultWait>();
                    }
                    r
                };
                let spawned = std::thread::Builder::new()
                    .name("ringfork-large-put".into())
                    .spawn(move || {
                        let v = v2.lock().unwrap_or_else(|e| e.into_inner()).take();
                        if let Some(v) = v {
                            done.finish(put(&q2, v));
                        }
                    });
                // From here the put's outcome (and its task count) belongs to whoever runs it.
                this.task = Task::Settled;
                if spawned.is_err() {
                    // No thread to be had: put it from here (correct; it only holds this thread).
                    let v = value.lock().unwrap_or_else(|e| e.into_inner()).take();
                    return Poll::Ready(v.map_or(Err(PushError::Closed), |v| put(q, v)));
                }
                this.large = Some(large.clone());
                return large.poll(cx);
            }
            Ok(false) => {}
        }
        let clock = &mut this.clock;
        let r = this.wait.poll(
            cx,
            q.ctrl().control.not_full.wait_word(),
            Expect::Snapshot,
            || Keep::Segment(q.segment().clone()),
            || Some(probe(q, false)),
            || {
                let busy = Cell::new(false);
                match q.put_any(v, Deadline::Immediate, Some(&busy)) {
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
        );
        if let Poll::Ready(r) = &r {
            this.v = None;
            this.settle(r.is_ok());
        }
        r
    }
}

impl<T, E: Encoding<T>> PutFuture<'_, T, E> {
    /// The put finished here (`ok`: the item went in): a counted task stays only if it did.
    fn settle(&mut self, ok: bool) {
        if self.task == Task::Counted && !ok {
            self.q.ctrl().control.undo_task::<DefaultWait>();
        }
        if self.task != Task::None {
            self.task = Task::Settled;
        }
    }
}

impl<T: Send + 'static, E: Encoding<T>> Queue<T, E> {
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
    pub fn get_async(&self) -> GetFuture<'_, T, E> {
        GetFuture {
            q: self,
            joinable: None,
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
    pub fn put_async(&self, v: T) -> PutFuture<'_, T, E> {
        PutFuture {
            q: self,
            v: Some(v),
            wait: WordWait::default(),
            clock: BusyClock::default(),
            large: None,
            task: Task::None,
        }
    }
}

impl<T: Send + 'static, E: Encoding<T>> SimpleQueue<T, E> {
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
    pub fn get_async(&self) -> GetFuture<'_, T, E> {
        self.inner().get_async()
    }

    /// [`Queue::put_async`] on this queue.
    pub fn put_async(&self, v: T) -> PutFuture<'_, T, E> {
        self.inner().put_async(v)
    }
}

/// The future of [`JoinableQueue::get_async`]: a [`GetFuture`] that counts the item taken as an
/// unfinished task of this process (as [`JoinableQueue::get`], inside the ring's pop).
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct JoinableGetFuture<'a, T, E: Encoding<T> = Serde> {
    get: GetFuture<'a, T, E>,
}

impl<T: 'static, E: Encoding<T>> Future for JoinableGetFuture<'_, T, E> {
    type Output = Result<T, PopError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().get).poll(cx)
    }
}

impl<T: Send + 'static, E: Encoding<T>> JoinableQueue<T, E> {
    /// [`JoinableQueue::put`] without blocking a thread (see [`Queue::put_async`]): one more
    /// unfinished task once the item is in; a put that fails, or a future dropped before the item
    /// went in, counts none.
    ///
    /// ```
    /// let q = ringfork::JoinableQueue::<String>::new(2)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(q.put_async("job".to_string()))?;
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_async(&self, v: T) -> PutFuture<'_, T, E> {
        let mut f = self.queue().put_async(v);
        f.task = Task::Uncounted;
        f
    }

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
    pub fn get_async(&self) -> JoinableGetFuture<'_, T, E> {
        JoinableGetFuture {
            get: GetFuture {
                q: self.queue(),
                joinable: Some(self),
                wait: WordWait::default(),
                clock: BusyClock::default(),
            },
        }
    }
}

/// The future of [`JoinableQueue::join_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct JoinFuture<'a, T, E: Encoding<T> = Serde> {
    jq: &'a JoinableQueue<T, E>,
    wait: WordWait,
}

impl<T, E: Encoding<T>> Unpin for JoinFuture<'_, T, E> {}

impl<T: 'static, E: Encoding<T>> Future for JoinFuture<'_, T, E> {
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

impl<T: Send + 'static, E: Encoding<T>> JoinableQueue<T, E> {
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
    pub fn join_async(&self) -> JoinFuture<'_, T, E> {
        JoinFuture {
            jq: self,
            wait: WordWait::default(),
        }
    }
}
