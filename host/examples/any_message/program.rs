use ringfork::{pipe, Pool, Process, Queue, ShmSafe, Value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Job { id: u64, path: String, tags: Vec<String>, weights: Vec<f64> }

#[derive(Clone, Copy, Debug, PartialEq, ShmSafe)]
#[repr(C)]
struct Tick { seq: u64, price: f64 }

fn count_bytes(path: String) -> usize { path.len() }

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<Job>::new(4)?;
    let q2 = q.clone();
    let mut p = Process::new(move || {
        for id in 0..100 {
            let job = Job { id, path: format!("/data/{id}.csv"), tags: vec!["a".into()], weights: vec![0.5; 8] };
            q2.put(job).unwrap();
        }
        // one message far larger than the queue's whole buffer
        q2.put(Job { id: 100, path: "x".repeat(8 << 20), tags: vec![], weights: vec![] }).unwrap();
    });
    p.start()?;
    for id in 0..100 {
        assert_eq!(q.get()?.id, id);
    }
    assert_eq!(q.get()?.path.len(), 8 << 20);
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));

    let (mut a, mut b) = pipe(true)?;
    a.send(&vec![String::from("hello"), String::from("世界")])?;
    assert_eq!(b.recv::<Vec<String>>()?, vec!["hello", "世界"]);

    let pool = Pool::new(2)?;
    let sizes = pool.map(count_bytes, vec![String::from("a"), String::from("bb"), "c".repeat(1 << 20)])?;
    assert_eq!(sizes, vec![1, 2, 1 << 20]);

    let plain = Queue::<u64>::new(8)?;
    plain.put(7)?;
    assert_eq!(plain.get()?, 7);

    let v = Value::new(Tick { seq: 1, price: 2.5 })?;
    assert_eq!(v.get().unwrap().seq, 1);
    Ok(())
}
