//! Unit tests of the configuration layers: order, sources, and the errors for bad input.

use super::*;

fn file(text: &str) -> Result<Layer, UsageError> {
    Layer::from_toml(Path::new("/d/cove.toml"), text)
}

fn env(vars: &[(&str, &str)]) -> Result<Layer, UsageError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Layer::from_env(|var| vars.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()))
}

fn settings(from_file: Option<Layer>, env: Layer, flags: Layer) -> Settings {
    Settings::layered("/d/cove.toml".into(), from_file, env, flags)
}

fn entry(settings: &Settings, key: Key) -> Entry {
    settings
        .entries()
        .into_iter()
        .find(|e| e.key == key)
        .expect("every key has an entry")
}

#[test]
fn the_readme_example_is_a_valid_cove_toml() {
    let readme = include_str!("../../../README.md");
    let example = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a ```toml example");
    let layer = file(example).unwrap();
    let s = settings(Some(layer), Layer::default(), Layer::default());
    assert!(s.entries().iter().all(|e| e.source == Source::File));
    s.node_config(Path::new("/d")).unwrap();
}

#[test]
fn nothing_set_gives_the_node_defaults() {
    let s = settings(None, Layer::default(), Layer::default());
    assert!(s.entries().iter().all(|e| e.source == Source::Default));
    let config = s.node_config(Path::new("/d")).unwrap();
    let defaults = NodeConfig::new("/d");
    assert_eq!(config.listen, defaults.listen);
    assert_eq!(config.mdns, defaults.mdns);
    assert_eq!(config.sync_interval, defaults.sync_interval);
    assert_eq!(config.retention, None);
    assert_eq!(config.max_connections, defaults.max_connections);
    assert_eq!(config.peer_rate_limit.per_sec, 500.0);
    assert_eq!(s.metrics(), None);
    assert_eq!(s.web(), None);
}

#[test]
fn each_layer_overrides_the_one_below_and_is_named_as_the_source() {
    let from_file = file(
        "listen = [\"/ip4/127.0.0.1/tcp/4001\"]\nmdns = false\nretention_days = 30\n\
         sync_interval = \"5m\"\nmax_connections = 64\n",
    )
    .unwrap();
    let env = env(&[("COVE_MDNS", "true"), ("COVE_SYNC_INTERVAL", "2m")]).unwrap();
    let flags = Layer {
        sync_interval: Some(Duration::from_secs(1)),
        ..Layer::default()
    };
    let s = settings(Some(from_file), env, flags);
    let source = |key| entry(&s, key).source;
    assert_eq!(source(LISTEN), Source::File);
    assert_eq!(source(RETENTION_DAYS), Source::File);
    assert_eq!(source(MDNS), Source::Env);
    assert_eq!(source(SYNC_INTERVAL), Source::Flag);
    assert_eq!(source(PEER_RATE), Source::Default);
    let config = s.node_config(Path::new("/d")).unwrap();
    assert_eq!(config.listen[0].to_string(), "/ip4/127.0.0.1/tcp/4001");
    assert!(config.mdns);
    assert_eq!(config.sync_interval, Duration::from_secs(1));
    assert_eq!(config.retention, Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(config.max_connections, 64);
    assert_eq!(entry(&s, SYNC_INTERVAL).value, json!("1s"));
}

#[test]
fn the_environment_overrides_the_file() {
    let from_file = file("listen = [\"/ip4/127.0.0.1/tcp/4001\"]\npeer_rate = 10\n").unwrap();
    let env = env(&[
        (
            "COVE_LISTEN",
            "/ip4/127.0.0.1/tcp/5001, /ip4/127.0.0.1/udp/5001/quic-v1",
        ),
        ("COVE_PEER_RATE", "20"),
        ("COVE_METRICS", ""),
    ])
    .unwrap();
    let s = settings(Some(from_file), env, Layer::default());
    let listen = entry(&s, LISTEN);
    assert_eq!(listen.source, Source::Env);
    assert_eq!(
        listen.value,
        json!(["/ip4/127.0.0.1/tcp/5001", "/ip4/127.0.0.1/udp/5001/quic-v1"])
    );
    assert_eq!(entry(&s, PEER_RATE).value, json!(20));
    // An empty variable is unset.
    assert_eq!(entry(&s, METRICS).source, Source::Default);
}

#[test]
fn an_unknown_key_names_the_file_the_key_and_the_known_keys() {
    let error = file("mdns = true\nlisten_addr = [\"/ip4/0.0.0.0/tcp/1\"]\n").unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("/d/cove.toml: line 2, key `listen_addr`: "),
        "{text}"
    );
    assert!(text.contains("unknown field `listen_addr`"), "{text}");
    assert!(
        text.contains("`listen`"),
        "the known keys are listed: {text}"
    );
}

#[test]
fn a_wrong_type_names_the_key_and_what_was_expected() {
    let text = file("mdns = \"yes\"\n").unwrap_err().to_string();
    assert!(
        text.starts_with("/d/cove.toml: line 1, key `mdns`: "),
        "{text}"
    );
    assert!(text.contains("expected a boolean"), "{text}");
    let text = file("sync_interval = \"soon\"\n").unwrap_err().to_string();
    assert!(text.contains("key `sync_interval`"), "{text}");
    assert!(text.contains("expected a duration"), "{text}");
    let text = file("listen = \"/ip4/0.0.0.0/tcp/1\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("key `listen`") && text.contains("expected a sequence"),
        "{text}"
    );
    let text = file("retention_days = 0\n").unwrap_err().to_string();
    assert_eq!(
        text,
        "/d/cove.toml: retention_days 0: out of range; expected a number of days from 1 \
         to 36500"
    );
    let text = file("sync_interval = \"0s\"\n").unwrap_err().to_string();
    assert_eq!(text, "/d/cove.toml: sync_interval must be longer than zero");
    let text = file("mdns = \n").unwrap_err().to_string();
    assert!(text.starts_with("/d/cove.toml: line 1"), "{text}");
}

#[test]
fn a_bad_variable_names_it_and_what_was_expected() {
    let text = env(&[("COVE_MDNS", "maybe")]).unwrap_err().to_string();
    assert_eq!(
        text,
        "COVE_MDNS \"maybe\": not a boolean; expected true or false"
    );
    let text = env(&[("COVE_PEER_RATE", "fast")]).unwrap_err().to_string();
    assert!(text.starts_with("COVE_PEER_RATE \"fast\": "), "{text}");
    assert!(text.ends_with("expected a whole number"), "{text}");
    let text = env(&[("COVE_MAX_CONNECTIONS", "0")])
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("COVE_MAX_CONNECTIONS 0: out of range"),
        "{text}"
    );
    let text = env(&[("COVE_METRICS", "localhost")])
        .unwrap_err()
        .to_string();
    assert!(text.contains("expected IP:PORT"), "{text}");
}

#[test]
fn a_bad_address_names_the_layer_that_set_it() {
    let from_file = file("advertise = [\"not an address\"]\n").unwrap();
    let s = settings(Some(from_file), Layer::default(), Layer::default());
    let text = s.node_config(Path::new("/d")).unwrap_err().to_string();
    assert!(
        text.starts_with("/d/cove.toml: advertise \"not an address\" is not a multiaddr"),
        "{text}"
    );
    let flags = Layer {
        listen: Some(vec!["nope".into()]),
        ..Layer::default()
    };
    let s = settings(None, Layer::default(), flags);
    let text = s.node_config(Path::new("/d")).unwrap_err().to_string();
    assert!(
        text.starts_with("--listen \"nope\" is not a multiaddr"),
        "{text}"
    );
}
