//! Proxmox VE formats (to be written by the simulator work).
