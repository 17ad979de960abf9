//! The integration tests, one binary: a module per area (the suite links the library
//! and GDAL once instead of once per file). Shared helpers live in `common` (data and
//! tools: a missing one fails the test unless AVISO_SKIP_MISSING=1 asks to skip) and
//! `notify_support` (the SMTP server, SMS gateway, webhook receivers and feed servers of
//! the notification tests).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;
mod notify_support;

mod admin_plain_http;
mod approval_flood_edit;
mod approval_hand_service;
mod approval_override_service;
mod approval_reminders;
mod approval_service;
mod approval_service_pg;
mod approval_site;
mod architecture;
mod assess;
mod bufr_child;
mod cap;
mod cli;
mod deploy_caddy;
mod ecmwf_bufr;
mod ecmwf_service;
mod exposure;
mod feeds;
mod fetch;
mod flood_cap;
mod flood_edit_pipeline;
mod flood_extent;
mod flood_rivers;
mod flood_service;
mod floods;
mod fuzz;
mod gdacs;
mod hardening_io;
mod hardening_rest;
mod hardening_small;
mod hazard;
mod layers;
mod logging;
mod memory;
mod notify;
mod notify_channels;
mod notify_dlr;
mod notify_erasure;
mod notify_outbox;
mod notify_replay;
mod notify_replay_service;
mod notify_serve_log;
mod notify_service;
mod ogc;
mod ogc_query;
mod openapi;
mod plan;
mod plan_csv;
mod plan_flood;
mod plan_flood_print;
mod plan_ogc;
mod plan_service;
mod plan_service_pg;
mod plan_sheet;
mod probabilistic;
mod probabilistic_ensemble;
mod probabilistic_levels;
mod probabilistic_levels_service;
mod probabilistic_service;
mod raster;
mod service;
mod shared_area;
mod snapshots;
mod store_approval;
mod store_approval_overrides;
mod store_backends;
mod store_notify;
mod store_ops;
mod store_pg_cache;
mod store_pg_kill;
mod store_pg_replicas;
mod store_pg_service;
mod store_registers;
mod web_map;
mod windfield;
