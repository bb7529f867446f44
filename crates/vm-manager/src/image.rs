//! The cloud image a VM is created from, when it is not in the image cache yet.
//!
//! Where it comes from: the VM's `image_url` when set, else Ubuntu's cloud-image server, as
//! the Bash orchestrator derived it (`https://cloud-images.ubuntu.com/<release>/current/<image>`,
//! release from `vm_defaults.ubuntu_release`, `noble` before that key existed); the config's
//! model derives it (`Vm::image_source`). The download
//! itself ([`phoenix_host::download`]) is resumable and verified against the `SHA256SUMS` in the
//! same folder; the image is downloaded once and never deleted, so every later VM (and every
//! later run) finds it in the cache and downloads nothing.

use std::path::Path;

use phoenix_host::download::{self, Request};

use crate::create::Run;
use crate::fail::{Fail, StepResult};

/// The URL `image` is downloaded from: `image_url`, else the one the config derived.
fn source_url(run: &Run, image: &str) -> StepResult<String> {
    run.d.image_source.clone().ok_or_else(|| {
        Fail::new(
            "image",
            format!("no download URL for {image}: set image_url or template_image"),
        )
    })
}

/// Downloads `image` into the cache at `path` (which does not exist yet).
pub fn download(run: &Run, image: &str, path: &Path) -> StepResult<()> {
    let url = source_url(run, image)?;
    let sums = download::sums_beside(&url);
    let label = format!("VM {}", run.d.id);
    let req = Request {
        url: &url,
        dest: path,
        sums_url: sums.as_deref(),
        name: image,
        label: &label,
    };
    download::fetch(&run.ctx.runner, &req)
        .map(|_| ())
        .map_err(|e| Fail::new("image", e.to_string()))
}
