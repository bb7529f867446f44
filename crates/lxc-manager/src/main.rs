//! `lxc-manager`: one container per process. Routes the verb to the library
//! (`lxc_manager`), which plans each step and applies it through the guest core; a failed step
//! is reported as `Error: container <id>: <step>: <what>` (exit 1).

fn main() {
    std::process::exit(lxc_manager::verbs::main());
}
