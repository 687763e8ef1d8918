//! How a worker's line is written out: prefixed with `[w<id> <pid>] `, or as one JSON object a
//! line with the fields pino and the usual log shippers read (`level`, `time` in ms, `pid`,
//! `hostname`, `msg`) plus `worker` and `stream`. A line that is already a JSON object (a worker
//! logging with pino) keeps its own fields and gains those it lacks.

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json { hostname: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// pino's levels: info for stdout, error for stderr.
    fn level(self) -> u32 {
        match self {
            Stream::Stdout => 30,
            Stream::Stderr => 50,
        }
    }
}

/// Formats the lines of one worker's stream.
pub struct LineFormat {
    json: bool,
    /// Text: `[w<id> <pid>] `. JSON: the fields after `time`, up to `"msg":`.
    prefix: Vec<u8>,
    /// JSON: the fields added to a worker's own JSON object (`"name":value` each).
    added: Vec<(&'static str, String)>,
    level: u32,
}

fn json_string(s: &str) -> String {
    // Serializing a &str cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

impl LineFormat {
    pub fn new(format: &Format, worker: u32, pid: i32, stream: Stream) -> Self {
        match format {
            Format::Text => LineFormat {
                json: false,
                prefix: format!("[w{worker} {pid}] ").into_bytes(),
                added: Vec::new(),
                level: 0,
            },
            Format::Json { hostname } => {
                let hostname = json_string(hostname);
                let stream_name = json_string(stream.name());
                LineFormat {
                    json: true,
                    prefix: format!(
                        ",\"pid\":{pid},\"hostname\":{hostname},\"worker\":{worker},\"stream\":{stream_name},\"msg\":"
                    )
                    .into_bytes(),
                    added: vec![
                        ("level", stream.level().to_string()),
                        ("pid", pid.to_string()),
                        ("hostname", hostname),
                        ("worker", worker.to_string()),
                        ("stream", stream_name),
                    ],
                    level: stream.level(),
                }
            }
        }
    }

    /// Appends `line` (without its `\n`), formatted, with its `\n`, to `out`.
    pub fn write(&self, out: &mut Vec<u8>, line: &[u8], now_ms: u64) {
        if !self.json {
            out.extend_from_slice(&self.prefix);
            out.extend_from_slice(line);
            out.push(b'\n');
            return;
        }
        let trimmed = line.trim_ascii();
        if trimmed.first() == Some(&b'{') && trimmed.last() == Some(&b'}') {
            if let Ok(fields) = serde_json::from_slice::<Map<String, Value>>(trimmed) {
                return self.extend_object(out, trimmed, &fields, now_ms);
            }
        }
        let msg = String::from_utf8_lossy(line);
        out.extend_from_slice(format!("{{\"level\":{},\"time\":{now_ms}", self.level).as_bytes());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(json_string(&msg).as_bytes());
        out.extend_from_slice(b"}\n");
    }

    /// A worker's own JSON object, its text kept as it was, with the fields it lacks first.
    fn extend_object(&self, out: &mut Vec<u8>, object: &[u8], fields: &Map<String, Value>, now_ms: u64) {
        let time = now_ms.to_string();
        let missing = self
            .added
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .chain([("time", time.as_str())])
            .filter(|(name, _)| !fields.contains_key(*name));
        out.push(b'{');
        let mut first = true;
        for (name, value) in missing {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(format!("\"{name}\":{value}").as_bytes());
        }
        if fields.is_empty() {
            out.push(b'}');
        } else {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(&object[1..]);
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(format: &Format, stream: Stream, line: &str) -> String {
        let mut out = Vec::new();
        LineFormat::new(format, 3, 42, stream).write(&mut out, line.as_bytes(), 1700000000000);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_lines_are_prefixed() {
        assert_eq!(one(&Format::Text, Stream::Stderr, "boom"), "[w3 42] boom\n");
    }

    #[test]
    fn json_lines_carry_pino_fields() {
        let json = Format::Json { hostname: "h\"x".into() };
        let line = one(&json, Stream::Stderr, "a \"quoted\"\tline");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], 50);
        assert_eq!(v["time"], 1700000000000u64);
        assert_eq!(v["pid"], 42);
        assert_eq!(v["hostname"], "h\"x");
        assert_eq!(v["worker"], 3);
        assert_eq!(v["stream"], "stderr");
        assert_eq!(v["msg"], "a \"quoted\"\tline");
        assert!(line.ends_with("}\n"));
    }

    #[test]
    fn a_workers_json_line_keeps_its_fields_and_gains_the_missing_ones() {
        let json = Format::Json { hostname: "h".into() };
        let line = one(&json, Stream::Stdout, r#"{"level":40,"time":5,"pid":42,"msg":"hi","n":{"a":1}}"#);
        assert_eq!(line, "{\"hostname\":\"h\",\"worker\":3,\"stream\":\"stdout\",\"level\":40,\"time\":5,\"pid\":42,\"msg\":\"hi\",\"n\":{\"a\":1}}\n");
        let v: Value = serde_json::from_str(&one(&json, Stream::Stdout, "{}")).unwrap();
        assert_eq!(v["worker"], 3);
        assert_eq!(v["level"], 30);
        // Not an object after all: a message like any other.
        let v: Value = serde_json::from_str(&one(&json, Stream::Stdout, "{not json}")).unwrap();
        assert_eq!(v["msg"], "{not json}");
    }
}
