//! [`ThreadConfined`]: an [`Objective`] whose dfdx device lives on one worker thread.
//!
//! geodyn's samplers share an `Objective` across threads, so it must be `Sync`. dfdx
//! 0.13's CUDA device holds raw stream pointers and is neither `Send` nor `Sync`; this
//! wrapper builds the objective *on* a dedicated worker thread (it never crosses threads)
//! and forwards every call there over a channel, copying θ, v and the results. Calls
//! from several threads are served one at a time, in arrival order — on a GPU the device
//! serialises them anyway. The wrapper is generic over the device, so it is tested with
//! the CPU device; with the `cuda` feature, `ThreadConfined::cuda` builds it on a GPU.

use crate::{DfdxError, DfdxMlpObjective};
use dfdx::prelude::Device;
use geodyn_core::error::check_dim;
use geodyn_core::{Error, ModelObjective, Objective, Result};
use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

type Reply<T> = Sender<Result<T>>;

/// One call forwarded to the worker.
enum Job {
    Value(Vec<f64>, Reply<f64>),
    Gradient(Vec<f64>, Reply<(f64, Vec<f64>)>),
    Hvp(Vec<f64>, Vec<f64>, Reply<Vec<f64>>),
    GradCurv(Vec<f64>, Vec<f64>, Reply<(f64, f64, Vec<f64>)>),
    Outputs(Vec<f64>, Reply<Vec<f64>>),
    Jvp(Vec<f64>, Vec<f64>, Reply<Vec<f64>>),
    GgnVp(Vec<f64>, Vec<f64>, Reply<Vec<f64>>),
    Vjp(Vec<f64>, Vec<f64>, Reply<Vec<f64>>),
    SecondDirectional(Vec<f64>, Vec<f64>, Reply<Vec<f64>>),
    Predict(Vec<f64>, Vec<f64>, usize, Reply<Vec<f64>>),
}

/// An MLP objective confined to one worker thread (see the module docs).
pub struct ThreadConfined {
    dim: usize,
    outputs_len: usize,
    jobs: Mutex<Option<Sender<Job>>>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ThreadConfined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadConfined").field("dim", &self.dim).finish_non_exhaustive()
    }
}

fn worker_gone() -> Error {
    Error::Backend("the dfdx worker thread has stopped".into())
}

impl ThreadConfined {
    /// Starts a worker thread, builds the objective there with `build` and keeps it there.
    ///
    /// Errors with `build`'s error (for example a device that cannot be opened).
    pub fn spawn<D, F>(build: F) -> std::result::Result<Self, DfdxError>
    where
        D: Device<f64> + 'static,
        F: FnOnce() -> std::result::Result<DfdxMlpObjective<D>, DfdxError> + Send + 'static,
    {
        let (job_tx, job_rx) = channel::<Job>();
        let (ready_tx, ready_rx) = channel::<std::result::Result<(usize, usize), DfdxError>>();
        let worker = std::thread::Builder::new()
            .name("geodyn-dfdx-device".into())
            .spawn(move || {
                let obj = match build() {
                    Ok(o) => o,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let n_out = obj.num_outputs();
                let _ = ready_tx.send(Ok((obj.spec().num_params(), n_out)));
                // Serve until every sender is gone. A reply whose caller has gone is dropped.
                for job in job_rx {
                    serve(&obj, job, n_out);
                }
            })
            .map_err(|e| DfdxError::Device(format!("cannot start the device thread: {e}")))?;
        let (dim, outputs_len) = ready_rx
            .recv()
            .map_err(|_| DfdxError::Device("the device thread stopped while building the objective".into()))??;
        Ok(Self { dim, outputs_len, jobs: Mutex::new(Some(job_tx)), worker: Some(worker) })
    }

    /// The MLP objective on CUDA device `ordinal` (0 for the first GPU), confined to a
    /// worker thread so that it implements [`Objective`] and can drive the samplers.
    ///
    /// Type-checked only (`cargo xtask check-cuda`); never run on a GPU.
    #[cfg(feature = "cuda")]
    pub fn cuda(
        ordinal: usize,
        spec: geodyn_nn::ModelSpec,
        data: geodyn_nn::Dataset,
        loss: geodyn_nn::Loss,
        prior_precision: f64,
    ) -> std::result::Result<Self, DfdxError> {
        Self::spawn(move || crate::CudaMlpObjective::new_cuda(ordinal, spec, data, loss, prior_precision))
    }

    fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T> {
        let (tx, rx) = channel();
        {
            let guard = self.jobs.lock().map_err(|_| worker_gone())?;
            guard.as_ref().ok_or_else(worker_gone)?.send(make(tx)).map_err(|_| worker_gone())?;
        }
        rx.recv().map_err(|_| worker_gone())?
    }
}

/// Every call is forwarded to the worker thread and copies its inputs and result.
impl ModelObjective for ThreadConfined {
    fn num_outputs(&self) -> usize {
        self.outputs_len
    }
    fn outputs(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        check_dim("out", self.outputs_len, out.len())?;
        out.copy_from_slice(&self.call(|tx| Job::Outputs(x.to_vec(), tx))?);
        Ok(())
    }
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        check_dim("out", self.outputs_len, out.len())?;
        out.copy_from_slice(&self.call(|tx| Job::Jvp(x.to_vec(), v.to_vec(), tx))?);
        Ok(())
    }
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        check_dim("out", self.dim, out.len())?;
        out.copy_from_slice(&self.call(|tx| Job::Vjp(x.to_vec(), u.to_vec(), tx))?);
        Ok(())
    }
    fn ggn_vp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        check_dim("out", self.dim, out.len())?;
        out.copy_from_slice(&self.call(|tx| Job::GgnVp(x.to_vec(), v.to_vec(), tx))?);
        Ok(())
    }
    fn outputs_second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        check_dim("out", self.outputs_len, out.len())?;
        out.copy_from_slice(&self.call(|tx| Job::SecondDirectional(x.to_vec(), v.to_vec(), tx))?);
        Ok(())
    }
    fn predict(&self, param_sets: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()> {
        let r = self.call(|tx| Job::Predict(param_sets.to_vec(), inputs.to_vec(), out.len(), tx))?;
        out.copy_from_slice(&r);
        Ok(())
    }
}

/// Runs one job on the worker thread and sends its result back.
fn serve<D: Device<f64>>(obj: &DfdxMlpObjective<D>, job: Job, n_out: usize) {
    let k = obj.spec().num_params();
    match job {
        Job::Value(x, tx) => {
            let _ = tx.send(obj.eval_value(&x));
        }
        Job::Gradient(x, tx) => {
            let mut g = vec![0.0; k];
            let _ = tx.send(obj.eval_gradient(&x, &mut g).map(|f| (f, g)));
        }
        Job::Hvp(x, v, tx) => {
            let mut hv = vec![0.0; k];
            let _ = tx.send(obj.eval_hvp(&x, &v, &mut hv).map(|()| hv));
        }
        Job::GradCurv(x, v, tx) => {
            let mut g = vec![0.0; k];
            let _ = tx.send(obj.eval_grad_and_curvature(&x, &v, &mut g).map(|(f, c)| (f, c, g)));
        }
        Job::Outputs(x, tx) => {
            let mut out = vec![0.0; n_out];
            let _ = tx.send(obj.outputs(&x, &mut out).map(|()| out));
        }
        Job::Jvp(x, v, tx) => {
            let mut out = vec![0.0; n_out];
            let _ = tx.send(obj.jvp(&x, &v, &mut out).map(|()| out));
        }
        Job::GgnVp(x, v, tx) => {
            let mut out = vec![0.0; k];
            let _ = tx.send(obj.ggn_vp(&x, &v, &mut out).map(|()| out));
        }
        Job::Vjp(x, u, tx) => {
            let mut out = vec![0.0; k];
            let _ = tx.send(obj.vjp(&x, &u, &mut out).map(|()| out));
        }
        Job::SecondDirectional(x, v, tx) => {
            let mut out = vec![0.0; n_out];
            let _ = tx.send(obj.outputs_second_directional(&x, &v, &mut out).map(|()| out));
        }
        Job::Predict(p, inputs, len, tx) => {
            let mut out = vec![0.0; len];
            let _ = tx.send(obj.predict(&p, &inputs, &mut out).map(|()| out));
        }
    }
}

impl Objective for ThreadConfined {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        self.call(|tx| Job::Value(x.to_vec(), tx))
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        check_dim("g", self.dim, g.len())?;
        let (f, r) = self.call(|tx| Job::Gradient(x.to_vec(), tx))?;
        g.copy_from_slice(&r);
        Ok(f)
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        check_dim("hv", self.dim, hv.len())?;
        let r = self.call(|tx| Job::Hvp(x.to_vec(), v.to_vec(), tx))?;
        hv.copy_from_slice(&r);
        Ok(())
    }
    fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
        check_dim("g", self.dim, g.len())?;
        let (f, c, r) = self.call(|tx| Job::GradCurv(x.to_vec(), v.to_vec(), tx))?;
        g.copy_from_slice(&r);
        Ok((f, c))
    }
}

impl Drop for ThreadConfined {
    /// Closes the job channel and waits for the worker to finish its last job.
    fn drop(&mut self) {
        if let Ok(mut guard) = self.jobs.lock() {
            guard.take();
        }
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
