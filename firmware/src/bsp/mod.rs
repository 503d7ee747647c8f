//! Board support. Only the ZCU102 exists (QEMU's `xlnx-zcu102` models it).
pub mod zcu102;
