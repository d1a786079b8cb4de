//! Key templates (`"user:{id}:posts:{page}"`), checked against the function's parameters at
//! compile time and turned into `KeyBuf` calls. Errors point into the string literal.

use std::collections::BTreeSet;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Ident, Index, LitStr, Path};

/// The names a template may use: parameters, names bound by parameter patterns, and `self`.
pub(crate) struct Scope {
    pub(crate) names: BTreeSet<String>,
    pub(crate) has_self: bool,
}

impl Scope {
    fn describe(&self) -> String {
        let mut all: Vec<String> = self.names.iter().map(|n| format!("`{n}`")).collect();
        if self.has_self {
            all.insert(0, "`self`".into());
        }
        if all.is_empty() {
            "the function has no parameters".into()
        } else {
            format!("in scope: {}", all.join(", "))
        }
    }
}

enum Piece {
    Lit(String),
    /// A placeholder's dotted path and its byte range inside the template.
    Arg(Vec<String>, std::ops::Range<usize>),
}

/// The span of `range` (bytes of the template's value) inside the literal, when the compiler can
/// give one; else the whole literal.
fn sub_span(lit: &LitStr, range: std::ops::Range<usize>) -> Span {
    let token = lit.token();
    let source = token.to_string();
    // Offsets only map one to one for a plain "..." literal without escapes.
    if source.len() == lit.value().len() + 2 && source.starts_with('"') {
        if let Some(span) = token.subspan(range.start + 1..range.end + 1) {
            return span;
        }
    }
    lit.span()
}

fn parse(lit: &LitStr) -> syn::Result<Vec<Piece>> {
    let text = lit.value();
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                cur.push('{');
                i += 2;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                cur.push('}');
                i += 2;
            }
            b'{' => {
                let Some(end) = text[i + 1..].find('}').map(|off| i + 1 + off) else {
                    return Err(syn::Error::new(
                        sub_span(lit, i..text.len()),
                        "unclosed `{` in key template (write `{{` for a literal brace)",
                    ));
                };
                let inner = &text[i + 1..end];
                let mut path = Vec::new();
                for part in inner.split('.') {
                    let part = part.trim();
                    let ident_like = part
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
                        && part.chars().all(|c| c.is_alphanumeric() || c == '_');
                    let index_like = !path.is_empty()
                        && !part.is_empty()
                        && part.chars().all(|c| c.is_ascii_digit());
                    if !(ident_like || index_like) {
                        let why = if inner.trim().is_empty() {
                            "empty placeholder `{}` in key template: name a parameter, as in `{id}`"
                                .to_string()
                        } else {
                            format!("`{{{inner}}}` is not a parameter name or field path (such as `{{id}}` or `{{user.id}}`)")
                        };
                        return Err(syn::Error::new(sub_span(lit, i..end + 1), why));
                    }
                    path.push(part.to_string());
                }
                if !cur.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut cur)));
                }
                pieces.push(Piece::Arg(path, i..end + 1));
                i = end + 1;
            }
            b'}' => {
                return Err(syn::Error::new(
                    sub_span(lit, i..i + 1),
                    "unmatched `}` in key template (write `}}` for a literal brace)",
                ))
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('\u{FFFD}');
                cur.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if !cur.is_empty() {
        pieces.push(Piece::Lit(cur));
    }
    Ok(pieces)
}

/// Checks `lit` against `scope` and returns an expression building the key (a `String`).
///
/// Each value goes through `KeyBuf::push_arg` (escaped); `{a.b}` reads the field `a.b`.
pub(crate) fn expand(lit: &LitStr, scope: &Scope, krate: &Path) -> syn::Result<TokenStream> {
    let pieces = parse(lit)?;
    if pieces.is_empty() {
        return Err(syn::Error::new(lit.span(), "empty key template"));
    }
    let mut pushes = Vec::new();
    let mut capacity = 0usize;
    for piece in &pieces {
        match piece {
            Piece::Lit(s) => {
                capacity += s.len();
                pushes.push(quote!(__cache_k.push_lit(#s);));
            }
            Piece::Arg(path, range) => {
                capacity += 8;
                let span = sub_span(lit, range.clone());
                let head = &path[0];
                let known = if head == "self" {
                    scope.has_self
                } else {
                    scope.names.contains(head)
                };
                if !known {
                    return Err(syn::Error::new(
                        span,
                        format!("unknown placeholder `{{{head}}}` in key template: no parameter named `{head}` ({})", scope.describe()),
                    ));
                }
                let head_tokens = if head == "self" {
                    quote_spanned!(span=> self)
                } else {
                    let ident = Ident::new(head, span);
                    quote!(#ident)
                };
                let rest = path[1..].iter().map(|p| match p.parse::<u32>() {
                    Ok(index) => {
                        let idx = Index { index, span };
                        quote!(.#idx)
                    }
                    Err(_) => {
                        let ident = Ident::new(p, span);
                        quote!(.#ident)
                    }
                });
                pushes.push(quote_spanned!(span=> __cache_k.push_arg(&#head_tokens #(#rest)*);));
            }
        }
    }
    Ok(quote! {{
        let mut __cache_k = #krate::__private::KeyBuf::with_capacity(#capacity);
        #(#pushes)*
        __cache_k.finish()
    }})
}
