//! Building and running the HTTP server.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{web, App as ActixApp, HttpServer};
use anyhow::Context;
use tracing::Instrument;

use super::handlers::mcp;
use super::metrics::RequestMetrics;
use super::{cors, error, middleware, routes, tls};
use crate::clock::Clock;
use crate::service::background::{Flusher, Watch};
use crate::service::App;

use crate::settings::Settings;

pub struct Application {
    port: u16,
    server: Server,
    app: web::Data<App>,
    flusher: Flusher,
    _watch: Watch,
    /// One server per data dir, holding this lock while it serves:
    /// `restore` refuses to run under it, and the CLI knows from it that a
    /// server must confirm its changes. Last, so it is released only after
    /// everything else has stopped.
    _serve_lock: std::fs::File,
}

impl Application {
    /// Opens the data dir and binds the listener; the server starts serving
    /// when `run_until_stopped` is awaited.
    pub fn build(settings: Settings, clock: Clock) -> anyhow::Result<Application> {
        // The certificate before the database: a bad one refuses the start
        // before any schema upgrade; SIGHUP handled from here on (its
        // default would end the process mid-start).
        let cert = match &settings.tls {
            Some((cert, key)) => Some(tls::Certificate::load(cert, key)?),
            None => None,
        };
        tls::reload_on_hangup(cert.clone()).context("listening for SIGHUP")?;
        let opened = App::open(settings.clone(), clock)?;
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding {} (--listen / MOLECULE_LISTEN)", settings.listen))?;
        let port = listener.local_addr()?.port();
        let app = web::Data::new(opened.app);
        let metrics = web::Data::new(RequestMetrics::default());
        let mcp = web::Data::new(mcp::transport(app.clone().into_inner(), &settings));
        let (state, body_timeout, max_body) = (app.clone(), settings.body_timeout, settings.max_body_bytes);
        let origins = std::sync::Arc::new(settings.cors_origins.clone());
        let server = HttpServer::new(move || {
            ActixApp::new()
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(mcp.clone())
                .app_data(error::json_config(max_body))
                .app_data(error::query_config())
                .app_data(error::path_config())
                .app_data(web::PayloadConfig::new(max_body))
                .wrap(error::json_errors())
                .wrap_fn(move |mut req, srv| {
                    let expired = middleware::limit_body(&mut req, body_timeout);
                    let fut = srv.call(req);
                    async move { Ok(middleware::after_deadline(fut.await?, expired, body_timeout)) }
                })
                .wrap_fn({
                    let origins = origins.clone();
                    move |req, srv| {
                        // Preflights are answered here; listed origins' answers
                        // are marked readable (cors.rs).
                        let (call, origin) = match cors::preflight(&req, &origins) {
                            Some(res) => (Err(req.into_response(res)), None),
                            None => {
                                let origin = cors::allowed_origin(&req, &origins);
                                (Ok(srv.call(req)), origin)
                            }
                        };
                        async move {
                            match call {
                                Err(res) => Ok(res.map_into_right_body()),
                                Ok(fut) => {
                                    let mut res = fut.await?;
                                    if let Some(o) = origin {
                                        cors::decorate(res.headers_mut(), o);
                                    }
                                    Ok(res.map_into_left_body())
                                }
                            }
                        }
                    }
                })
                .wrap_fn(|req, srv| {
                    let observed = middleware::Observed::start(&req);
                    let fut = srv.call(req).instrument(observed.span.clone());
                    async move {
                        let mut res = fut.await?;
                        observed.finish(&res);
                        middleware::no_store(res.headers_mut());
                        middleware::rate_headers(&mut res);
                        Ok(res)
                    }
                })
                .configure(routes::configure)
                .default_service(web::to(routes::no_route))
        })
        .workers(settings.workers)
        // Storage calls are short and CPU-bound (writes queue on one
        // writer anyway): a few threads per worker keep context switches
        // and per-thread malloc arenas (RSS) down; hundreds would not help.
        .worker_max_blocking_threads(4)
        .shutdown_timeout(10)
        // Stated rather than inherited: a client has 5 s to send its request
        // head (then 408), idle keep-alive connections close after 5 s, and
        // a closing client gets 1 s. Heads over 128 KiB or with more than 96
        // headers are refused by actix-http (431).
        .client_request_timeout(std::time::Duration::from_secs(5))
        .keep_alive(std::time::Duration::from_secs(5))
        .client_disconnect_timeout(std::time::Duration::from_secs(1));
        let server = match &cert {
            Some(c) => server.listen_rustls_0_23(listener, c.server_config()?)?,
            None => server.listen(listener)?,
        }
        .run();
        let flusher = Flusher::start(app.clone().into_inner())?;
        let watch = Watch::start(app.clone().into_inner(), opened.follower)?;
        Ok(Application {
            _watch: watch,
            _serve_lock: opened.serve_lock,
            port,
            server,
            app,
            flusher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<App> {
        self.app.clone()
    }

    /// Serves until SIGINT/SIGTERM (or `handle().stop()`), then writes the
    /// last usage timestamps.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let out = self.server.await;
        self.flusher.stop();
        out
    }
}
