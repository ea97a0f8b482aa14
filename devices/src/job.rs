//! The outcome of sending a print job, shared by every printer transport. It keeps "nothing was sent" (safe to
//! retry) apart from "some bytes left the host" (the sheet may or may not have printed: staff decide), which is
//! what lets the print worker never print a certificate twice.

use crate::status::DeviceStatus;

/// Whether a job can safely be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Every byte was accepted by the serial driver. Whether the sheet came out is a separate question (PJL
    /// `JOB END`, or the operator).
    Delivered,
    /// Not one byte left the host: safe to retry.
    NothingSent,
    /// Some bytes left the host: the certificate may or may not print. Must become suspect; never resent here.
    Unknown,
}

/// Result of sending a print job: how far it got and what the caller may do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// Bytes accepted by the serial driver (exact).
    pub delivered: usize,
    /// Printer status after the attempt.
    pub status: DeviceStatus,
    /// What the caller may do next.
    pub outcome: Delivery,
}
