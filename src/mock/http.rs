//! A small HTTP/1.1 server side: request parsing and response writing, with
//! keep-alive and bounded sizes. Enough for the mock, nothing more.

use std::io::{self, BufRead, Read, Write};

/// Largest request head (request line and headers) accepted.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Largest request body accepted.
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// A parsed request.
#[derive(Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The first header of that (lowercase) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads one request; `Ok(None)` when the peer closed between requests.
pub(crate) fn read_request<R: BufRead>(reader: &mut R) -> io::Result<Option<Request>> {
    let mut head = Vec::with_capacity(512);
    loop {
        let before = head.len();
        let n = reader
            .by_ref()
            .take((MAX_HEAD - head.len()) as u64 + 1)
            .read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(bad("connection closed inside the request head"))
            };
        }
        if head.len() > MAX_HEAD {
            return Err(bad("request head too large"));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                head.clear(); // tolerate blank lines between requests
                continue;
            }
            break;
        }
    }
    let text = std::str::from_utf8(&head).map_err(|_| bad("request head is not UTF-8"))?;
    let mut lines = text.lines();
    let request_line = lines.next().ok_or_else(|| bad("empty request"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("malformed header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut request = Request {
        method: method.to_owned(),
        path,
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err(bad("chunked request bodies are not supported"));
    }
    let length = match request.header("content-length") {
        Some(v) => v.parse::<usize>().map_err(|_| bad("bad content-length"))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(bad("request body too large"));
    }
    request.body = vec![0; length];
    reader.read_exact(&mut request.body)?;
    Ok(Some(request))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// A response to write.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The head of a response, with `Date` (an IMF-fixdate of the mock's
/// clock) and `Content-Length` for `body_len`.
pub(crate) fn head_bytes(response: &Response, date: &str, body_len: usize, close: bool) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nDate: {date}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {body_len}\r\n"));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Writes a whole response, dated `date`.
pub(crate) fn write_response<W: Write>(
    out: &mut W,
    response: &Response,
    date: &str,
    close: bool,
) -> io::Result<()> {
    let mut bytes = head_bytes(response, date, response.body.len(), close);
    bytes.extend_from_slice(&response.body);
    out.write_all(&bytes)?;
    out.flush()
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub(crate) fn parse_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut pairs = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((percent_decode(k)?, percent_decode(v)?));
    }
    Some(pairs)
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = (bytes.next()? as char).to_digit(16)?;
                let lo = (bytes.next()? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_with_body_and_keeps_the_rest() {
        let raw = b"POST /v1/oauth2/token?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n";
        let mut reader = io::BufReader::new(&raw[..]);
        let r = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/v1/oauth2/token")
        );
        assert_eq!(r.body, b"abc");
        let r = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(r.method, "GET");
        assert!(read_request(&mut reader).unwrap().is_none());
    }

    #[test]
    fn form_decoding_handles_escapes() {
        let f = parse_form(b"a=b+c&d=%2F%3d&e").unwrap();
        assert_eq!(
            f,
            vec![
                ("a".into(), "b c".into()),
                ("d".into(), "/=".into()),
                ("e".into(), "".into())
            ]
        );
        assert!(parse_form(b"a=%zz").is_none());
    }
}
