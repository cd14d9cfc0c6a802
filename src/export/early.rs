//! Compressing step layers while the build still runs.
//!
//! A step's layer can be compressed as soon as the step is done: nothing later in the
//! build changes its snapshot. [`EarlyLayers`] takes layers from the solver's layer hook
//! and writes them with the exporter's own [`step_layer`] on a few worker threads, so
//! compression overlaps with the steps that follow. The blobs land in the store and in
//! the cache index under (step key, compression); the export that follows finds them
//! there and compresses nothing. A failure here is only logged: the export then writes
//! that layer itself and reports the error with its context.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, PoisonError};
use std::thread::Scope;

use cache::Store;
use cache::records::Records;

use super::layers::{StepLayer, WriteSettings, compression_key, recorded_layer, write_step_layer};
use super::options::ExportOptions;

/// Workers compressing the layers handed to [`EarlyLayers::submit`].
///
/// Made before the solve and run inside a thread scope around it; [`EarlyLayers::finish`]
/// closes the queue, the workers write what is queued and stop, and the scope joins
/// them before the export looks for the blobs.
pub struct EarlyLayers {
    queue: Mutex<Option<Sender<StepLayer>>>,
    rx: Mutex<Receiver<StepLayer>>,
    settings: WriteSettings,
    jobs: usize,
}

impl EarlyLayers {
    /// A queue writing layers with the export's compression and `SOURCE_DATE_EPOCH`.
    pub fn new(options: &ExportOptions) -> EarlyLayers {
        let (tx, rx) = channel::<StepLayer>();
        EarlyLayers {
            queue: Mutex::new(Some(tx)),
            rx: Mutex::new(rx),
            settings: WriteSettings {
                compression: options.compression,
                source_date_epoch: options.source_date_epoch,
                jobs: 1,
            },
            jobs: options.jobs.max(1),
        }
    }

    /// Starts the workers in `scope`.
    pub fn run<'scope, 'env>(
        &'env self,
        scope: &'scope Scope<'scope, 'env>,
        store: &'env Store,
        records: &'env Records,
    ) {
        for _ in 0..self.jobs {
            scope.spawn(move || self.work(store, records));
        }
    }

    /// Queues a finished step's layer for compression.
    pub fn submit(&self, layer: StepLayer) {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = queue.as_ref() {
            // A closed queue means the workers are gone: the export writes the layer.
            let _ = tx.send(layer);
        }
    }

    /// Closes the queue: the workers write what is queued and stop.
    pub fn finish(&self) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    fn work(&self, store: &Store, records: &Records) {
        loop {
            let next = self
                .rx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .recv();
            let Ok(layer) = next else { return };
            // A cached step's blob is usually known already; the export reuses it.
            let key = compression_key(self.settings.compression);
            if recorded_layer(store, records, &layer.id, &key).is_some() {
                continue;
            }
            // Leased per layer, not per build: a concurrent `strata rmi` waits for one
            // layer at most, and the blob is pinned by the cache index before release.
            let lease = match store.lease() {
                Ok(lease) => lease,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot lease the store; the export compresses this layer");
                    continue;
                }
            };
            if let Err(e) = write_step_layer(store, &lease, records, &layer, &key, self.settings) {
                tracing::warn!(step = %layer.id, error = %e, "compressing a layer early failed; the export retries it");
            }
        }
    }
}
