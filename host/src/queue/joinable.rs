//! [`JoinableQueue`] and [`SimpleQueue`].

use super::{deadline, Busy, Count, PopError, PushError, Queue, Serde, TaskDoneError};
use crate::encoding::Encoding;
use crate::segment::{Segment, SegmentError};
use ringfork_core::wait::{DefaultWait, Wait};
use ringfork_core::{Deadline, Kind};
use std::fmt;
use std::time::Duration;

/// How often a waiting [`JoinableQueue::join`] looks for consumers that died holding tasks.
pub const RECLAIM_INTERVAL: Duration = Duration::from_millis(100);

type Clock = <DefaultWait as Wait>::Clock;

/// The earlier of two deadlines.
fn earlier(a: Deadline, b: Deadline) -> Deadline {
    match (a, b) {
        (Deadline::Immediate, _) | (_, Deadline::Immediate) => Deadline::Immediate,
        (Deadline::Never, d) | (d, Deadline::Never) => d,
        (Deadline::At(x), Deadline::At(y)) => Deadline::At(x.min(y)),
    }
}

/// A [`Queue`] that counts unfinished tasks: Python's `multiprocessing.JoinableQueue`.
///
/// Every successful put adds a task; consumers call [`Self::task_done`] once per item they finished;
/// [`Self::join`] waits (on a futex) until the count is zero.
///
/// # A consumer that dies holding tasks
/// Each process counts, in its entry of the queue's consumer table, the items it took and has not
/// called `task_done` for. A consumer killed between `get` and `task_done` would leave the count
/// non-zero forever (Python's `join` hangs there); instead a waiting `join` checks every
/// [`RECLAIM_INTERVAL`] for consumers that died with tasks, takes their count over (exactly once),
/// and **accounts those tasks as lost**: they stop counting as unfinished and are added to
/// [`Self::tasks_lost`]. So `join` returns within about 100 ms of the death (once the other tasks
/// are done), and the caller can tell from `tasks_lost` that some items were never finished.
/// `task_done` is matched against the calling process's own taken items (a process that calls
/// `task_done` for items another process took works as in Python, but then a later death of that
/// other process is accounted as if its items were still pending; the count never goes below 0).
/// A take is counted inside the ring's pop, before the message is copied or (for a large message)
/// streamed out, so a consumer killed mid-`get` is accounted too. The window left: a consumer
/// killed in the few instructions between its take committing and its count being incremented is
/// not seen; `join_timeout` bounds that case.
///
/// ```
/// let paths = ringfork::JoinableQueue::<Vec<String>>::new(8)?; // any serde type, any size
/// paths.put(vec!["/data/a.csv".into(), "/data/b.csv".into()])?;
/// assert_eq!(paths.get()?.len(), 2);
/// paths.task_done()?;
/// paths.join();
///
/// let q = ringfork::JoinableQueue::<u32>::new(8)?;
/// q.put(1)?;
/// assert_eq!(q.unfinished_tasks(), 1);
/// assert_eq!(q.get()?, 1);
/// q.task_done()?;
/// q.join();
/// assert!(q.task_done().is_err()); // more task_done calls than items
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "multiprocessing.JoinableQueue")]
pub struct JoinableQueue<T, E: Encoding<T> = Serde> {
    q: Queue<T, E>,
}

impl<T, E: Encoding<T>> Clone for JoinableQueue<T, E> {
    fn clone(&self) -> Self {
        JoinableQueue { q: self.q.clone() }
    }
}

impl<T, E: Encoding<T>> fmt::Debug for JoinableQueue<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.q)
            .field("unfinished_tasks", &self.unfinished_tasks())
            .finish()
    }
}

impl<T, E: Encoding<T>> JoinableQueue<T, E> {
    /// A joinable queue of at most `maxsize` items in a new anonymous segment.
    pub fn new(maxsize: usize) -> Result<Self, SegmentError> {
        Ok(JoinableQueue {
            q: Queue::create(None, "joinablequeue", Kind::JoinableQueue, maxsize)?,
        })
    }

    crate::handle::open_or_create!(maxsize: usize);

    /// As [`Self::new`], placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, maxsize: usize) -> Result<Self, SegmentError> {
        Ok(JoinableQueue {
            q: Queue::create(Some(seg), name, Kind::JoinableQueue, maxsize)?,
        })
    }

    /// Attaches to the joinable queue called `name` in `seg`.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        Ok(JoinableQueue {
            q: Queue::open_kind(seg, name, Kind::JoinableQueue)?,
        })
    }

    fn put_deadline(&self, v: T, d: Deadline) -> Result<(), PushError> {
        let c = &self.q.ctrl().control;
        c.add_task()?;
        let r = self.q.put_deadline(v, d);
        if r.is_err() {
            c.undo_task::<DefaultWait>();
        }
        r
    }

    /// Puts `v` (one more unfinished task), waiting as long as it takes.
    pub fn put(&self, v: T) -> Result<(), PushError> {
        self.put_deadline(v, Deadline::Never)
    }

    /// Puts `v`, waiting at most `timeout`.
    pub fn put_timeout(&self, v: T, timeout: Duration) -> Result<(), PushError> {
        self.put_deadline(v, deadline(Some(timeout)))
    }

    /// Puts `v` if there is room now.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, v: T) -> Result<(), PushError> {
        self.put_deadline(v, Deadline::Immediate)
    }

    /// Takes an item, counting it against this process from the moment it is taken (see the type
    /// docs): a consumer killed while it reads a large message has its task accounted as lost too.
    fn get_deadline(&self, d: Deadline) -> Result<T, PopError> {
        self.get_any(d, None)
    }

    /// [`Self::get_deadline`], or with `busy` one non-blocking `async` attempt (`crate::aio`).
    pub(crate) fn get_any(&self, d: Deadline, busy: Busy<'_>) -> Result<T, PopError> {
        let id = self.q.raw.regs.consumer.id();
        let ctrl = self.q.ctrl();
        self.q.get_any(d, busy, &|c| match (c, id) {
            (Count::Taken, Some(id)) => ctrl.consumers.add_pending(id, 1),
            (Count::Untaken, Some(id)) => {
                let _ = ctrl.consumers.take_pending(id);
            }
            (Count::Lost, Some(id)) => {
                // Taken and dropped (counted in `lost()`): its task is accounted as lost.
                if ctrl.consumers.take_pending(id) {
                    ctrl.control.reclaim_tasks::<DefaultWait>(1);
                }
            }
            (_, None) => {}
        })
    }

    /// Takes the oldest item (see [`Queue::get`]).
    pub fn get(&self) -> Result<T, PopError> {
        self.get_deadline(Deadline::Never)
    }

    /// Takes the oldest item, waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        self.get_deadline(deadline(Some(timeout)))
    }

    /// Takes the oldest item if there is one now.
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, PopError> {
        self.get_deadline(Deadline::Immediate)
    }

    /// Marks one item as finished. Fails with [`TaskDoneError`] (Python's `ValueError`) when called
    /// more times than items were put.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let ctrl = self.q.ctrl();
        ctrl.control.task_done::<DefaultWait>()?;
        if let Some(id) = self.q.raw.regs.consumer.id() {
            let _ = ctrl.consumers.take_pending(id);
        }
        Ok(())
    }

    /// Blocks until every item put has been marked done, or accounted as lost with a consumer that
    /// died before its `task_done` (see the type docs and [`Self::tasks_lost`]).
    pub fn join(&self) {
        let _ = self.join_deadline(Deadline::Never);
    }

    /// As [`Self::join`], waiting at most `timeout` (never longer: the reclaim checks happen
    /// inside that deadline); returns whether every task was done or accounted as lost.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_deadline(deadline(Some(timeout)))
    }

    fn join_deadline(&self, d: Deadline) -> bool {
        let ctrl = self.q.ctrl();
        loop {
            let slice = earlier(d, Deadline::after::<Clock>(RECLAIM_INTERVAL));
            if ctrl.control.join::<DefaultWait>(slice).is_ok() {
                return true;
            }
            let n = ctrl.consumers.reclaim_pending();
            ctrl.control.reclaim_tasks::<DefaultWait>(n);
            if ctrl.control.unfinished_tasks() == 0 {
                return true;
            }
            if d == Deadline::Immediate || d.expired::<Clock>() {
                return false;
            }
        }
    }

    /// Tasks accounted as lost because the consumer that took them died before `task_done` (across
    /// every process using the queue, since it was created).
    pub fn tasks_lost(&self) -> u32 {
        self.q.ctrl().control.tasks_lost()
    }

    /// Items put and not yet marked done (a snapshot).
    pub fn unfinished_tasks(&self) -> u32 {
        self.q.ctrl().control.unfinished_tasks()
    }

    /// The underlying queue (`qsize`, `empty`, `full`, `close`, `lost`...). Puts through it are not
    /// counted as tasks.
    pub fn queue(&self) -> &Queue<T, E> {
        &self.q
    }
}

/// A simpler queue: Python's `multiprocessing.SimpleQueue` (`put`, `get`, `empty`, `close`). Python's
/// is unbounded; this one holds [`SimpleQueue::DEFAULT_CAPACITY`] items unless created
/// [`with_capacity`](Self::with_capacity), and `put` waits for room when it is full.
///
/// Any serde type, of any size (as [`Queue`]); `SimpleQueue<T, Plain>` for plain data:
///
/// ```
/// let q = ringfork::SimpleQueue::<String>::new()?;
/// q.put("hello".into())?;
/// assert!(!q.empty());
/// assert_eq!(q.get()?, "hello");
/// let n = ringfork::SimpleQueue::<i32>::new()?; // scalars: the fixed-size copy path
/// n.put(-1)?;
/// assert_eq!(n.get()?, -1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "multiprocessing.SimpleQueue")]
pub struct SimpleQueue<T, E: Encoding<T> = Serde> {
    q: Queue<T, E>,
}

impl<T, E: Encoding<T>> Clone for SimpleQueue<T, E> {
    fn clone(&self) -> Self {
        SimpleQueue { q: self.q.clone() }
    }
}

impl<T, E: Encoding<T>> fmt::Debug for SimpleQueue<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue").field("queue", &self.q).finish()
    }
}

impl<T, E: Encoding<T>> SimpleQueue<T, E> {
    /// Items a [`SimpleQueue::new`] holds.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A simple queue of [`Self::DEFAULT_CAPACITY`] items in a new anonymous segment.
    pub fn new() -> Result<Self, SegmentError> {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A simple queue of `capacity` items in a new anonymous segment.
    pub fn with_capacity(capacity: usize) -> Result<Self, SegmentError> {
        Ok(SimpleQueue {
            q: Queue::create(None, "simplequeue", Kind::SimpleQueue, capacity)?,
        })
    }

    crate::handle::open_or_create!(capacity: usize);

    /// As [`Self::with_capacity`], placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, capacity: usize) -> Result<Self, SegmentError> {
        Ok(SimpleQueue {
            q: Queue::create(Some(seg), name, Kind::SimpleQueue, capacity)?,
        })
    }

    /// Attaches to the simple queue called `name` in `seg`.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        Ok(SimpleQueue {
            q: Queue::open_kind(seg, name, Kind::SimpleQueue)?,
        })
    }

    /// Puts `v`, waiting for room if needed.
    pub fn put(&self, v: T) -> Result<(), PushError> {
        self.q.put(v)
    }

    /// Takes the oldest item, waiting as long as it takes (see [`Queue::get`] for the errors).
    pub fn get(&self) -> Result<T, PopError> {
        self.q.get()
    }

    /// The queue inside (for `crate::aio`).
    #[cfg(feature = "async")]
    pub(crate) fn inner(&self) -> &Queue<T, E> {
        &self.q
    }

    /// Whether the queue was empty at some instant (stale, as [`Queue::qsize`]).
    pub fn empty(&self) -> bool {
        self.q.empty()
    }

    /// Closes the queue for every process (see [`Queue::close`]).
    pub fn close(&self) {
        self.q.close()
    }
}
