//! What an operation is: method, path, who may call it, its body and its
//! answer (the table of them is ops.rs).

#[derive(Clone, Copy)]
pub enum Auth {
    /// No credential.
    None,
    /// An org key (or a browser session), of the role the route needs.
    Key,
    /// The workspace's own token.
    Agent,
    /// Either.
    KeyOrAgent,
    /// An org key as a bearer; never the session cookie.
    KeyBearer,
}

#[derive(Clone, Copy)]
pub enum Body {
    None,
    /// JSON of the named request type.
    Json(&'static str),
    /// Optional JSON of the named type.
    OptionalJson(&'static str),
    /// A JSON object checked field by field in the handler.
    AnyObject,
    /// JSON of the named type, or the org template as YAML text.
    JsonOrYaml(&'static str),
    /// As `JsonOrYaml`, or the template's directory as a tar or tar.gz.
    Template(&'static str),
}

#[derive(Clone, Copy)]
pub enum Out {
    Object,
    Array,
    Text(&'static str),
    /// JSON, or a gzipped tar when the client asks for one (`Accept`).
    ObjectOrTarball,
    /// A JSON-RPC answer (202 and no body for a notification); errors are
    /// JSON-RPC errors or, refused before the protocol, ours.
    JsonRpc,
}

pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub auth: Auth,
    pub body: Body,
    pub status: u16,
    pub out: Out,
    /// (name, JSON type) of the query parameters.
    pub query: &'static [(&'static str, &'static str)],
}

pub const fn op(method: &'static str, path: &'static str, summary: &'static str, auth: Auth, status: u16) -> Op {
    Op {
        method,
        path,
        summary,
        auth,
        body: Body::None,
        status,
        out: Out::Object,
        query: &[],
    }
}

impl Op {
    pub const fn body(mut self, body: Body) -> Op {
        self.body = body;
        self
    }
    pub const fn array(mut self) -> Op {
        self.out = Out::Array;
        self
    }
    pub const fn text(mut self, content_type: &'static str) -> Op {
        self.out = Out::Text(content_type);
        self
    }
    pub const fn tarball(mut self) -> Op {
        self.out = Out::ObjectOrTarball;
        self
    }
    pub const fn json_rpc(mut self) -> Op {
        self.out = Out::JsonRpc;
        self
    }
    pub const fn query(mut self, query: &'static [(&'static str, &'static str)]) -> Op {
        self.query = query;
        self
    }
}
