//! The cloud image a VM is created from: a file in the image cache, downloaded once when absent.
//!
//! Where it comes from: the VM's `image_url` when set, else Ubuntu's cloud-image server, as
//! the Bash orchestrator derived it (`https://cloud-images.ubuntu.com/<release>/current/<image>`,
//! release from `ubuntu_release`, `noble` when no file names one; the config derives it:
//! `Vm::image_source`). The download itself is a planned node action ([`NodeOp::Download`]) that
//! the local transport carries out with [`phoenix_host::download`]: resumable and verified
//! against the `SHA256SUMS` in the same folder; the image is never deleted, so every later VM
//! (and every later run) finds it in the cache and downloads nothing.

use std::path::PathBuf;

use phoenix_guest::{Action, NodeOp};

use phoenix_config::Vm;

use crate::context::Paths;

pub use phoenix_config::model::vm::{CLOUD_IMAGES_BASE, DEFAULT_UBUNTU_RELEASE};

/// The derived download URL of cloud image `image` of Ubuntu `release`.
pub fn cloud_image_url(release: &str, image: &str) -> String {
    format!("{CLOUD_IMAGES_BASE}/{release}/current/{image}")
}

/// The URL `image` is downloaded from: `image_url`, else the derived one (the image is a plain
/// file name, checked by the config, so it can stand in a URL path as it is).
fn source_url(vm: &Vm, image: &str) -> String {
    vm.image_source()
        .unwrap_or_else(|| cloud_image_url(&vm.ubuntu_release, image))
}

/// The image's cache path, and the download when it is not cached yet. `Err`: the message
/// for the `image` step.
pub fn plan(vm: &Vm, paths: &Paths) -> Result<(PathBuf, Option<Action>), String> {
    let image = vm
        .template_image
        .as_ref()
        .ok_or("neither clone_from_vmid nor template_image is set; cannot create the VM")?;
    let path = paths.image_cache.join(image);
    if path.is_file() {
        return Ok((path, None));
    }
    let url = source_url(vm, image);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_url_is_the_old_orchestrators() {
        assert_eq!(
            cloud_image_url("noble", "noble-server-cloudimg-amd64.img"),
            "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
        );
    }

    #[test]
    fn only_plain_names_reach_a_url() {
        // The config's `FileName` is the rule: what it accepts stands in a URL path as it is.
        let ok = |s: &str| s.parse::<phoenix_config::types::FileName>().is_ok();
        assert!(ok("noble-server-cloudimg-amd64.img"));
        assert!(!ok("a b.img"));
        assert!(!ok("x?y=1"));
        assert!(!ok(".."));
        assert!(!ok("dir/x.img"));
    }
}
