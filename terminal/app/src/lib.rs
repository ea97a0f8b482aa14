//! The madoguchi terminal: the egui front end and the glue that runs the counter behind it.

pub mod device_check;
pub mod printing;
pub mod ui;
