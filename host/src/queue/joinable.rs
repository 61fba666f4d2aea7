//! [`JoinableQueue`] and [`SimpleQueue`].

use super::{deadline, PopError, PushError, Queue, TaskDoneError};
use crate::segment::{Segment, SegmentError};
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Kind, ShmSafe};
use std::fmt;
use std::time::Duration;

/// A [`Queue`] that counts unfinished tasks: Python's `multiprocessing.JoinableQueue`.
///
/// Every successful put adds a task; consumers call [`Self::task_done`] once per item they finished;
/// [`Self::join`] waits (on a futex, no polling) until the count is zero. A consumer killed after `get`
/// and before `task_done` leaves the count non-zero, so `join` would wait forever, as in Python: use
/// [`Self::join_timeout`] when that matters.
///
/// ```
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
pub struct JoinableQueue<T: ShmSafe> {
    q: Queue<T>,
}

impl<T: ShmSafe> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue { q: self.q.clone() }
    }
}

impl<T: ShmSafe> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.q)
            .field("unfinished_tasks", &self.unfinished_tasks())
            .finish()
    }
}

impl<T: ShmSafe> JoinableQueue<T> {
    /// A joinable queue of at most `maxsize` items in a new anonymous segment.
    pub fn new(maxsize: usize) -> Result<Self, SegmentError> {
        Ok(JoinableQueue {
            q: Queue::create(None, "joinablequeue", Kind::JoinableQueue, maxsize)?,
        })
    }

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

    /// Takes the oldest item (see [`Queue::get`]).
    pub fn get(&self) -> Result<T, PopError> {
        self.q.get()
    }

    /// Takes the oldest item, waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        self.q.get_timeout(timeout)
    }

    /// Takes the oldest item if there is one now.
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, PopError> {
        self.q.try_get()
    }

    /// Marks one item as finished. Fails with [`TaskDoneError`] (Python's `ValueError`) when called
    /// more times than items were put.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.q.ctrl().control.task_done::<DefaultWait>()
    }

    /// Blocks until every item put has been marked done.
    pub fn join(&self) {
        // Deadline::Never cannot time out.
        let _ = self.q.ctrl().control.join::<DefaultWait>(Deadline::Never);
    }

    /// Waits at most `timeout` for every item to be marked done; returns whether they were.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.q
            .ctrl()
            .control
            .join::<DefaultWait>(deadline(Some(timeout)))
            .is_ok()
    }

    /// Items put and not yet marked done (a snapshot).
    pub fn unfinished_tasks(&self) -> u32 {
        self.q.ctrl().control.unfinished_tasks()
    }

    /// The underlying queue (`qsize`, `empty`, `full`, `close`, `lost`...). Puts through it are not
    /// counted as tasks.
    pub fn queue(&self) -> &Queue<T> {
        &self.q
    }
}

/// A simpler queue: Python's `multiprocessing.SimpleQueue` (`put`, `get`, `empty`, `close`). Python's
/// is unbounded; this one holds [`SimpleQueue::DEFAULT_CAPACITY`] items unless created
/// [`with_capacity`](Self::with_capacity), and `put` waits for room when it is full.
///
/// ```
/// let q = ringfork::SimpleQueue::<i32>::new()?;
/// q.put(-1)?;
/// assert!(!q.empty());
/// assert_eq!(q.get()?, -1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "multiprocessing.SimpleQueue")]
pub struct SimpleQueue<T: ShmSafe> {
    q: Queue<T>,
}

impl<T: ShmSafe> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue { q: self.q.clone() }
    }
}

impl<T: ShmSafe> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue").field("queue", &self.q).finish()
    }
}

impl<T: ShmSafe> SimpleQueue<T> {
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

    /// Whether the queue was empty at some instant (stale, as [`Queue::qsize`]).
    pub fn empty(&self) -> bool {
        self.q.empty()
    }

    /// Closes the queue for every process (see [`Queue::close`]).
    pub fn close(&self) {
        self.q.close()
    }
}
