//! `vm-manager <verb> <vmid>`: one VM per process (docs/vms.md). Routes the verb to the
//! library (`vm_manager`); a failed step is reported as `Error: VM <id>: <step>: <what>`
//! (exit 1).

fn main() {
    std::process::exit(vm_manager::verbs::main());
}
