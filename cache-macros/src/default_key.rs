//! The key of a `#[cached]` function without `key`: its path and a digest of its serialized
//! arguments.
//!
//! Each argument is hashed through a trait declared beside it, in its own block, whose
//! `#[diagnostic::on_unimplemented]` note is written here: an argument that is not `Serialize`
//! (a handle such as `db: &Db`, most often) is one error at that argument, suggesting a key
//! template over the function's other arguments, instead of a suggestion to derive `Serialize`
//! on the handle.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{Ident, ItemFn, Path, Type};

use crate::expand::{last_segment, mentions_self, params, receiver};

/// The key expression: `Some(key)`, or `None` when an argument fails to serialize at run time.
/// `State<_>` extractors and `Cache` parameters are shared state, not input, and are left out;
/// so is the receiver (name it in a `key` template when it matters).
pub(crate) fn default_key(f: &ItemFn, krate: &Path) -> TokenStream {
    let sig = &f.sig;
    let name = sig.ident.to_string();
    let start = if receiver(sig).is_some() || mentions_self(sig) {
        quote!(#krate::__private::ArgsDigest::for_method::<Self>(#name))
    } else {
        quote!(#krate::__private::ArgsDigest::new(::core::concat!(::core::module_path!(), "::", #name)))
    };
    let hashed: Vec<Hashed<'_>> = params(sig)
        .into_iter()
        .filter(|p| last_segment(p.ty).is_none_or(|s| s != "State" && s != "Cache"))
        .flat_map(|p| {
            let (ty, simple) = (p.ty, p.simple);
            p.names
                .into_iter()
                .map(move |name| Hashed { name, ty, simple })
        })
        .collect();
    let args = hashed.iter().map(|h| h.add(&hashed, &sig.ident, krate));
    quote! {{
        let mut __cache_d = #start;
        #(#args)*
        __cache_d.finish()
    }}
}

/// One name hashed into the key.
struct Hashed<'a> {
    name: Ident,
    ty: &'a Type,
    /// The parameter is this name alone (`db: &Db`), so `ty` is its type.
    simple: bool,
}

impl Hashed<'_> {
    /// The block adding this argument to `__cache_d`.
    fn add(&self, all: &[Hashed<'_>], fn_name: &Ident, krate: &Path) -> TokenStream {
        let n = &self.name;
        // A reference is hashed as what it points to (the same JSON), so the error names `Db`
        // rather than `&Db`.
        let value = match self.ty {
            Type::Reference(r) if self.simple && r.mutability.is_none() => {
                quote_spanned!(n.span()=> #n)
            }
            Type::Reference(_) if self.simple => quote_spanned!(n.span()=> &*#n),
            _ => quote_spanned!(n.span()=> &#n),
        };
        let message = "`{Self}` cannot be part of the cache key: `#[cached]` without `key` hashes \
                       every argument it is not told to leave out, and `{Self}` is not `Serialize`";
        let note = format!(
            "give a key template that names only the arguments that identify the result, e.g. \
             `#[cached(key = \"{}\")]`",
            escape(&suggestion(fn_name, all, n))
        );
        let call = quote_spanned!(n.span()=> CacheKeyArgument::add(#value, &mut __cache_d););
        quote! {{
            #[diagnostic::on_unimplemented(
                message = #message,
                label = "this argument is hashed into the key",
                note = #note
            )]
            trait CacheKeyArgument {
                fn add(&self, digest: &mut #krate::__private::ArgsDigest);
            }
            impl<T: ?Sized + #krate::__private::serde::Serialize> CacheKeyArgument for T {
                fn add(&self, digest: &mut #krate::__private::ArgsDigest) {
                    digest.arg(self)
                }
            }
            #call
        }}
    }
}

/// A key template without `skip` and without the other arguments that look like handles
/// (references to a type that is not `str` or a primitive, `Arc`s, `Rc`s): `count:{table}`.
fn suggestion(fn_name: &Ident, all: &[Hashed<'_>], skip: &Ident) -> String {
    let mut key = fn_name.unraw().to_string();
    for h in all {
        if h.name == *skip || (h.simple && looks_like_handle(h.ty)) {
            continue;
        }
        key.push_str(&format!(":{{{}}}", h.name.unraw()));
    }
    key
}

fn looks_like_handle(ty: &Type) -> bool {
    const PLAIN: &[&str] = &[
        "str", "String", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
        "i128", "isize", "f32", "f64", "bool", "char", "Uuid",
    ];
    match ty {
        Type::Reference(r) => last_segment(&r.elem).is_none_or(|s| !PLAIN.iter().any(|p| s == p)),
        Type::Path(_) => last_segment(ty).is_some_and(|s| s == "Arc" || s == "Rc"),
        _ => false,
    }
}

/// `text` with `{` and `}` doubled, as `on_unimplemented` format strings want.
fn escape(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suggest(sig: &str, skip: &str) -> String {
        let f: ItemFn = syn::parse_str(&format!("{sig} {{}}")).expect("a function");
        let hashed: Vec<Hashed<'_>> = params(&f.sig)
            .into_iter()
            .flat_map(|p| {
                let (ty, simple) = (p.ty, p.simple);
                p.names
                    .into_iter()
                    .map(move |name| Hashed { name, ty, simple })
            })
            .collect();
        suggestion(
            &f.sig.ident,
            &hashed,
            &Ident::new(skip, proc_macro2::Span::call_site()),
        )
    }

    #[test]
    fn the_suggested_key_leaves_out_the_argument_and_other_handles() {
        assert_eq!(
            suggest("async fn count(db: &Db, table: String)", "db"),
            "count:{table}"
        );
        assert_eq!(
            suggest(
                "async fn f(pool: Arc<Pool>, db: &Db, id: u64, name: &str)",
                "db"
            ),
            "f:{id}:{name}"
        );
        assert_eq!(suggest("async fn one(db: &Db)", "db"), "one");
        assert_eq!(
            suggest("async fn p(Path(id): Path<u64>, db: &Db)", "db"),
            "p:{id}"
        );
    }

    #[test]
    fn braces_are_escaped_for_the_note() {
        assert_eq!(escape("count:{table}"), "count:{{table}}");
    }
}
