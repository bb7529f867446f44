//! The cloud image a VM is created from: a file in the image cache, downloaded once when absent.
//!
//! Where it comes from: the VM's `image_url` when set, else Ubuntu's cloud-image server, as
//! the Bash orchestrator derived it (`https://cloud-images.ubuntu.com/<release>/current/<image>`,
//! release from `ubuntu_release`, `noble` when no file names one); the config's model derives
//! it (`Vm::image_source`). The download itself is a planned node action ([`NodeOp::Download`]) that
//! the local transport carries out with [`phoenix_host::download`]: resumable and verified
//! against the `SHA256SUMS` in the same folder; the image is never deleted, so every later VM
//! (and every later run) finds it in the cache and downloads nothing.

use std::path::PathBuf;

use phoenix_guest::{Action, NodeOp};

use crate::desired::{Desired, Paths};

/// The URL `image` is downloaded from: `image_url`, else the one the config derived.
fn source_url(d: &Desired, image: &str) -> Result<String, String> {
    d.image_source
        .clone()
        .ok_or_else(|| format!("no download URL for {image}: set image_url or template_image"))
}

/// The image's cache path, and the download when it is not cached yet. `Err`: the message
/// for the `image` step.
pub fn plan(d: &Desired, paths: &Paths) -> Result<(PathBuf, Option<Action>), String> {
    let image = d
        .image
        .clone()
        .ok_or("neither clone_from_vmid nor template_image is set; cannot create the VM")?;
    if image.contains('/') {
        return Err(format!(
            "template_image '{image}' must be a file name in the image cache"
        ));
    }
    let path = paths.image_cache.join(&image);
    if path.is_file() {
        return Ok((path, None));
    }
    let url = source_url(d, &image)?;
    let download = Action::node(
        "image",
        format!("{image} is not in the image cache"),
        NodeOp::Download {
            url,
            dest: path.clone(),
        },
    )
    .long();
    Ok((path, Some(download)))
}
