//! The HTTP adapter against servers that misbehave: a resident system that fails, answers garbage, drips its answer
//! slowly, answers about another record or is not there at all. Each becomes an error the counter can show
//! (`Unavailable`: try again later; `InvalidResponse`: call the administrator), never data and never a hang.
//! The well-behaved side (every port operation over the real server) runs in `reference_system.rs`.

use std::time::{Duration, Instant};

use backend_adapter::http::{HttpClientConfig, HttpResidentSystem};
use backend_adapter::types::{HouseholdId, PersonId, SearchQuery};
use backend_adapter::{ResidentSystem, ResidentSystemError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::HttpServer;

/// What the fake server does with every request.
#[derive(Clone)]
enum Behaviour {
    /// Answer these bytes (a whole HTTP response) at once.
    Answer(Vec<u8>),
    /// Send the head, then the body one byte at a time with this pause.
    Drip { head: Vec<u8>, body: Vec<u8>, pause: Duration },
}

fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A server on 127.0.0.1 that reads each request's head and then behaves as told; a client with short timeouts.
async fn fake_server(behaviour: Behaviour) -> HttpResidentSystem {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let behaviour = behaviour.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                match behaviour {
                    Behaviour::Answer(bytes) => {
                        let _ = socket.write_all(&bytes).await;
                    }
                    Behaviour::Drip { head, body, pause } => {
                        let _ = socket.write_all(&head).await;
                        for byte in body {
                            if socket.write_all(&[byte]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    client(&url, 1024)
}

fn client(url: &str, max_response_bytes: usize) -> HttpResidentSystem {
    let mut config = HttpClientConfig::new(url).expect("url");
    config.connect_timeout = Duration::from_millis(500);
    config.request_timeout = Duration::from_secs(1);
    config.max_response_bytes = max_response_bytes;
    HttpResidentSystem::new(config).expect("client")
}

fn search() -> SearchQuery {
    SearchQuery { name_prefix: Some("やまだ".into()), limit: 10, ..Default::default() }
}

#[tokio::test]
async fn a_failing_resident_system_is_unavailable_and_says_so_in_japanese() {
    let server = fake_server(Behaviour::Answer(response("500 Internal Server Error", "text/plain", "boom"))).await;
    let err = server.search(&search()).await.expect_err("HTTP 500");
    assert!(matches!(err, ResidentSystemError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("500") && err.to_string().contains("boom"), "{err}");
    assert!(err.message_ja().contains("接続できません"), "{}", err.message_ja());

    // Nobody listening: the port was bound, then closed.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let err = client(&url, 1024).person(PersonId(1)).await.expect_err("refused");
    assert!(matches!(err, ResidentSystemError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn garbage_from_the_resident_system_is_an_error_never_data() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a wrong schema", response("200 OK", "application/json", r#"{"persons": "none"}"#)),
        ("not JSON", response("200 OK", "application/json", "<html>maintenance</html>")),
        ("not application/json", response("200 OK", "text/html", "[]")),
        ("a 404 that is not the contract's", response("404 Not Found", "text/plain", "no such page")),
        (
            "an error kind the contract lacks",
            response("404 Not Found", "application/json", r#"{"error":"gone","message":"x","message_ja":"x"}"#),
        ),
        ("a status the contract lacks", response("302 Found", "application/json", "{}")),
        (
            "an answer over the size limit",
            response("200 OK", "application/json", &format!("[{}]", "0,".repeat(2000) + "0")),
        ),
    ];
    for (what, bytes) in cases {
        let server = fake_server(Behaviour::Answer(bytes)).await;
        let err = server.search(&search()).await.expect_err(what);
        assert!(matches!(err, ResidentSystemError::InvalidResponse(_)), "{what}: {err:?}");
        assert!(err.message_ja().contains("想定外の応答"), "{what}: {}", err.message_ja());
    }
}

#[tokio::test]
async fn an_answer_about_another_record_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let residents = crate::support::residents(dir.path(), 30).await;
    let household = residents.household(residents.household_ids(0, 1).await.expect("ids")[0]).await.expect("h");
    let person = &household.members[0];
    let person_json = serde_json::to_string(person).expect("json");
    let household_json = serde_json::to_string(&household).expect("json");

    let server = fake_server(Behaviour::Answer(response("200 OK", "application/json", &person_json))).await;
    let asked = PersonId(person.id.0 + 1);
    let err = server.person(asked).await.expect_err("another person");
    assert!(matches!(err, ResidentSystemError::InvalidResponse(_)), "{err:?}");
    assert!(err.to_string().contains(&asked.to_string()), "{err}");

    let server = fake_server(Behaviour::Answer(response("200 OK", "application/json", &household_json))).await;
    let big = client(server.base_url().as_str(), 1 << 20);
    let err = big.household(HouseholdId(household.id.0 + 1)).await.expect_err("another household");
    assert!(matches!(err, ResidentSystemError::InvalidResponse(_)), "{err:?}");
    assert_eq!(big.household(household.id).await.expect("the right one"), household, "the same answer, asked right");
}

#[tokio::test]
async fn a_slow_drip_ends_at_the_call_timeout() {
    let body = "[]".repeat(50);
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let server = fake_server(Behaviour::Drip {
        head: head.into_bytes(),
        body: body.into_bytes(),
        pause: Duration::from_millis(200),
    })
    .await;
    let started = Instant::now();
    let err = server.search(&search()).await.expect_err("drip");
    assert!(matches!(err, ResidentSystemError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("did not complete"), "{err}");
    // 100 bytes at 5 a second would take 20 s; the 1 s call limit ends it long before.
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn the_client_takes_only_plain_http_base_urls() {
    for url in ["https://residents.example:8443", "ftp://residents", "residents:8080", "http://host/?q=1", ""] {
        let err = HttpClientConfig::new(url).expect_err(url);
        assert!(err.to_string().contains("resident system URL"), "{url}: {err}");
    }
    let config = HttpClientConfig::new("http://127.0.0.1:8080/bridge/").expect("a prefix is fine");
    assert_eq!(config.base_url.as_str(), "http://127.0.0.1:8080/bridge/");
}

#[tokio::test]
async fn the_real_server_refuses_malformed_requests_with_the_contracts_error() {
    let dir = tempfile::tempdir().expect("dir");
    let residents = crate::support::residents(dir.path(), 20).await;
    let server = HttpServer::start((*residents).clone()).await;
    let raw = |method: &str, path: &str, body: Option<&str>| {
        let url = server.url.clone();
        let (method, path, body) = (method.to_string(), path.to_string(), body.map(str::to_string));
        async move {
            let address = url.trim_start_matches("http://").to_string();
            let mut socket = tokio::net::TcpStream::connect(&address).await.expect("connect");
            let request = match &body {
                Some(body) => format!(
                    "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => format!("{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n"),
            };
            socket.write_all(request.as_bytes()).await.expect("write");
            let mut answer = String::new();
            socket.read_to_string(&mut answer).await.expect("read");
            answer
        }
    };
    for (method, path, body, status) in [
        ("POST", "/v1/persons/search", Some("{not json"), "400"),
        ("POST", "/v1/persons/search", Some(r#"{"limit": -1}"#), "400"),
        ("POST", "/v1/persons/search", Some(r#"{"limit": 10}"#), "422"),
        ("POST", "/v1/persons/search", Some(r#"{"name_prefix": "ヤ", "limit": 201}"#), "422"),
        ("GET", "/v1/persons/abc", None, "400"),
        ("GET", "/v1/persons/999999999", None, "404"),
        ("GET", "/v1/no-such-thing", None, "404"),
        (
            "POST",
            "/v1/seals",
            Some(
                r#"{"idempotency_key":"k","person_id":1,"impression_png":"bm90IGFuIGltYWdl","registered_on":"2026-11-20"}"#,
            ),
            "422",
        ),
    ] {
        let answer = raw(method, path, body).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{method} {path}: {answer}");
        let json = answer.split("\r\n\r\n").nth(1).expect("body");
        let error: serde_json::Value = serde_json::from_str(json).expect("an error body in JSON");
        assert!(error["message"].is_string() && error["message_ja"].is_string(), "{method} {path}: {json}");
    }
    let contract = raw("GET", "/openapi.json", None).await;
    assert!(contract.contains("\"openapi\": \"3.0.3\""), "the server serves its contract");
    assert!(server.client.health().await.is_ok());
}
