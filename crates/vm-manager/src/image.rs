//! The cloud image a VM is created from: a file in the image cache, downloaded once when a
//! URL is configured.

use std::path::PathBuf;

use phoenix_guest::{Action, NodeOp};

use crate::desired::{Desired, Paths};

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
    let url = d.image_url.clone().ok_or_else(|| {
        format!(
            "{} is not in the image cache and no image_url is set",
            path.display()
        )
    })?;
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
