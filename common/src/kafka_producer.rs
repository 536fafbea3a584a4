//! The Kafka producer every ferrotrace service writes with: each message
//! sent returns a future of its delivery report, and a polling thread
//! serves the reports (and librdkafka's logs and errors) as they come.
//!
//! Why not rdkafka's `FutureProducer`: its polling thread calls
//! `BaseProducer::poll(100 ms)`, which converts the time left to whole
//! milliseconds, truncating; in the last millisecond of every call it polls
//! with a timeout of 0, spinning on the clock until the deadline: about
//! 1 % of a core per producer, idle or not. Here the polling thread sleeps
//! (parked) while the event queue is empty; librdkafka wakes it through
//! the queue's event callback when an event arrives on the empty queue, and
//! it serves events until the queue is empty again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use rdkafka::bindings as rdsys;
use rdkafka::client::Client;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Message, ToBytes};
use rdkafka::producer::future_producer::{Delivery, OwnedDeliveryResult};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, FutureRecord, Producer as _, ProducerContext,
};
use rdkafka::util::Timeout;
use tokio::sync::oneshot;

use crate::kafka_client::LogContext;

/// A message's delivery report: `Err` when the producer was dropped first.
pub type DeliveryFuture = oneshot::Receiver<OwnedDeliveryResult>;

/// How often the polling thread looks at the queue when nothing woke it: a
/// safety net, since every event on an empty queue wakes it.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// How long [`KafkaProducer::send`] waits before retrying a full queue.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(10);

/// A librdkafka producer with delivery futures and a polling thread that
/// does not spin. Clones share the producer; the last one dropped stops the
/// thread, then librdkafka fails what is still queued (reported to their
/// futures) and closes the connections.
#[derive(Clone)]
pub struct KafkaProducer(Arc<Polled>);

impl KafkaProducer {
    /// Creates the producer from `config`, logging through `context`.
    pub fn new(config: &ClientConfig, context: LogContext) -> KafkaResult<Self> {
        let producer: BaseProducer<LogContext> = config.create_with_context(context)?;
        let shared = Arc::new(Shared {
            queue: EventQueue::main(producer.client()),
            producer,
            stop: AtomicBool::new(false),
        });
        let poller = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("kafka producer poll".into())
                .spawn(move || shared.serve())
                .map_err(|error| KafkaError::ClientCreation(error.to_string()))?
        };
        shared.queue.wake_on_event(poller.thread().clone());
        // An event that came before the wake-up was set must not wait.
        poller.thread().unpark();
        Ok(Self(Arc::new(Polled {
            shared,
            poller: Some(poller),
        })))
    }

    /// Queues `record` without waiting: its delivery report comes through
    /// the future. A full queue (or any error to queue) returns the record.
    #[allow(clippy::result_large_err)]
    pub fn send_result<'a, K, P>(
        &self,
        record: FutureRecord<'a, K, P>,
    ) -> Result<DeliveryFuture, (KafkaError, FutureRecord<'a, K, P>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let (sender, receiver) = oneshot::channel();
        let base = BaseRecord {
            topic: record.topic,
            partition: record.partition,
            payload: record.payload,
            key: record.key,
            timestamp: record.timestamp,
            headers: record.headers,
            delivery_opaque: Box::new(sender),
        };
        match self.0.shared.producer.send(base) {
            Ok(()) => Ok(receiver),
            Err((error, base)) => Err((
                error,
                FutureRecord {
                    topic: base.topic,
                    partition: base.partition,
                    payload: base.payload,
                    key: base.key,
                    timestamp: base.timestamp,
                    headers: base.headers,
                },
            )),
        }
    }

    /// Sends `record` and waits for its delivery report, retrying for up to
    /// `queue_timeout` while librdkafka's queue is full.
    pub async fn send<K, P>(
        &self,
        mut record: FutureRecord<'_, K, P>,
        queue_timeout: Duration,
    ) -> Result<Delivery, KafkaError>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let deadline = Instant::now() + queue_timeout;
        loop {
            match self.send_result(record) {
                Ok(delivery) => {
                    return match delivery.await {
                        Ok(report) => report.map_err(|(error, _)| error),
                        Err(_dropped) => Err(KafkaError::Canceled),
                    };
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    record = back;
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// Waits up to `timeout` for every queued message's delivery report.
    pub fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        self.0.shared.producer.flush(timeout)
    }

    /// The librdkafka client: for metadata requests.
    pub fn client(&self) -> &Client<LogContext> {
        self.0.shared.producer.client()
    }
}

/// Each message's delivery report goes to the future [`KafkaProducer`]
/// handed out when it was queued.
impl ProducerContext for LogContext {
    type DeliveryOpaque = Box<oneshot::Sender<OwnedDeliveryResult>>;

    fn delivery(&self, result: &DeliveryResult<'_>, sender: Self::DeliveryOpaque) {
        let owned = match result {
            Ok(message) => Ok(Delivery {
                partition: message.partition(),
                offset: message.offset(),
                timestamp: message.timestamp(),
            }),
            Err((error, message)) => Err((error.clone(), message.detach())),
        };
        // The caller may have stopped waiting: nothing to tell then.
        let _ = sender.send(owned);
    }
}

/// The owner of the polling thread: stops it when the last clone goes.
struct Polled {
    shared: Arc<Shared>,
    poller: Option<JoinHandle<()>>,
}

impl Drop for Polled {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(poller) = self.poller.take() {
            poller.thread().unpark();
            if poller.join().is_err() {
                tracing::error!("the kafka producer's polling thread panicked");
            }
        }
    }
}

/// What the polling thread and the producer's users share. Fields drop in
/// order: the queue handle (and its wake-up) before the producer.
struct Shared {
    queue: EventQueue,
    producer: BaseProducer<LogContext>,
    stop: AtomicBool,
}

impl Shared {
    /// The polling thread: serves every event queued, sleeps while none is.
    fn serve(&self) {
        loop {
            while self.queue.len() > 0 {
                // A zero timeout serves one event and returns: no spinning.
                self.producer.poll(Timeout::After(Duration::ZERO));
            }
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            thread::park_timeout(IDLE_CHECK);
        }
    }
}

/// A handle on a client's main event queue (delivery reports, errors,
/// logs), which can wake a thread when an event arrives on it empty.
struct EventQueue {
    queue: *mut rdsys::rd_kafka_queue_t,
    /// The thread to wake; set once, and lives as long as the queue handle,
    /// which librdkafka's callback gets a pointer to.
    waker: OnceLock<Thread>,
}

// librdkafka's queues are thread-safe; the pointer is owned by this handle.
unsafe impl Send for EventQueue {}
unsafe impl Sync for EventQueue {}

impl EventQueue {
    fn main(client: &Client<LogContext>) -> Self {
        // SAFETY: the client is alive; the handle is destroyed in `drop`,
        // before the client (see `Shared`).
        let queue = unsafe { rdsys::rd_kafka_queue_get_main(client.native_ptr()) };
        Self {
            queue,
            waker: OnceLock::new(),
        }
    }

    fn len(&self) -> usize {
        // SAFETY: the handle is valid until `drop`.
        unsafe { rdsys::rd_kafka_queue_length(self.queue) }
    }

    /// Has librdkafka unpark `thread` whenever an event is queued on the
    /// empty queue. Once only.
    fn wake_on_event(&self, thread: Thread) {
        if self.waker.set(thread).is_err() {
            return;
        }
        let waker = self.waker.get().expect("just set") as *const Thread;
        // SAFETY: `waker` lives in `self` until `drop`, which removes the
        // callback first; librdkafka calls it under the queue's lock, which
        // removing it takes too.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(self.queue, Some(wake), waker as *mut _);
        }
    }
}

impl Drop for EventQueue {
    fn drop(&mut self) {
        // SAFETY: the handle is valid; after removing the callback no
        // librdkafka thread uses `waker`.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(self.queue, None, std::ptr::null_mut());
            rdsys::rd_kafka_queue_destroy(self.queue);
        }
    }
}

/// librdkafka's queue event callback: wakes the polling thread. Runs on a
/// librdkafka thread and must not call librdkafka.
unsafe extern "C" fn wake(_client: *mut rdsys::rd_kafka_t, waker: *mut std::ffi::c_void) {
    // SAFETY: `waker` is the `Thread` `EventQueue::wake_on_event` registered,
    // alive while the callback is.
    let thread = unsafe { &*(waker as *const Thread) };
    thread.unpark();
}
