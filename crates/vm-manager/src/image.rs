//! The cloud image a VM is created from, when it is not in the image cache yet.
//!
//! Where it comes from: the VM's `image_url` when set, else Ubuntu's cloud-image server, as
//! the Bash orchestrator derived it (`https://cloud-images.ubuntu.com/<release>/current/<image>`,
//! release from `vm_defaults.ubuntu_release`, `noble` before that key existed). The download
//! itself ([`phoenix_host::download`]) is resumable and verified against the `SHA256SUMS` in the
//! same folder; the image is downloaded once and never deleted, so every later VM (and every
//! later run) finds it in the cache and downloads nothing.

use std::path::Path;

use phoenix_host::download::{self, Request};

use crate::create::Run;
use crate::fail::{Fail, StepResult};

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
fn source_url(run: &Run, image: &str) -> StepResult<String> {
    if let Some(url) = &run.d.image_url {
        return Ok(url.clone());
    }
    let release = DEFAULT_UBUNTU_RELEASE;
    if !plain(image) || !plain(release) {
        return Err(Fail::new(
            "image",
            format!("cannot derive a download URL from template_image '{image}' and release '{release}': use letters, digits, '.', '_', '+', '-', or set image_url"),
        ));
    }
    Ok(cloud_image_url(release, image))
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
