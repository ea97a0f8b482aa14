//! madoguchi's end-to-end tests: one integration binary (see ARCHITECTURE.md, "Testing").

mod business_day;
mod certificates;
mod http_adapter;
mod inquiry_letter;
mod move_out_certificate;
mod outbox;
mod print_queue;
mod queue_hints;
mod reference_system;
mod seal_certificate;
mod store_suite;
mod support;
mod training;
