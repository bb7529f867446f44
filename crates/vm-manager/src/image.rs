//! The cloud image a VM is created from: a file in the image cache, downloaded once when absent.
//!
//! Where it comes from: the VM's `image_url` when set, else Ubuntu's cloud-image server, as
//! the Bash orchestrator derived it (`https://cloud-images.ubuntu.com/<release>/current/<image>`,
//! release `noble`). The download itself is a planned node action ([`NodeOp::Download`]) that
//! the local transport carries out with [`phoenix_host::download`]: resumable and verified
//! against the `SHA256SUMS` in the same folder; the image is never deleted, so every later VM
//! (and every later run) finds it in the cache and downloads nothing.

use std::path::PathBuf;

use phoenix_guest::{Action, NodeOp};

use crate::desired::{Desired, Paths};

/// Ubuntu release of the derived URL when the config names none (the old orchestrator's).
pub const DEFAULT_UBUNTU_RELEASE: &str = "noble";
/// Ubuntu's cloud-image server.
pub const CLOUD_IMAGES_BASE: &str = "https://cloud-images.ubuntu.com";

/// The derived download URL of cloud image `image` of Ubuntu `release`.
pub fn cloud_image_url(release: &str, image: &str) -> String {
    format!("{CLOUD_IMAGES_BASE}/{release}/current/{image}")
}

/// Characters that can stand in a URL path segment and a file name as they are.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

/// The URL `image` is downloaded from: `image_url`, else the derived one.
fn source_url(d: &Desired, image: &str) -> Result<String, String> {
    if let Some(url) = &d.image_url {
        return Ok(url.clone());
    }
    let release = DEFAULT_UBUNTU_RELEASE;
    if !plain(image) || !plain(release) {
        return Err(format!("cannot derive a download URL from template_image '{image}' and release '{release}': use letters, digits, '.', '_', '+', '-', or set image_url"));
    }
    Ok(cloud_image_url(release, image))
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
    fn only_plain_names_make_a_url() {
        assert!(plain("noble-server-cloudimg-amd64.img"));
        assert!(!plain("a b.img"));
        assert!(!plain("x?y=1"));
        assert!(!plain(".."));
    }
}
