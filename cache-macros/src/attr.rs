//! Parsing of the attribute arguments: `name = value` pairs, each allowed once.

use std::time::Duration;

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, Expr, LitBool, LitInt, LitStr, Path, Token};

use crate::lock::LockArg;

mod kw {
    syn::custom_keyword!(key);
    syn::custom_keyword!(keys);
    syn::custom_keyword!(ttl);
    syn::custom_keyword!(tags);
    syn::custom_keyword!(patterns);
    syn::custom_keyword!(cache);
    syn::custom_keyword!(condition);
    syn::custom_keyword!(unless);
    syn::custom_keyword!(stale);
    syn::custom_keyword!(lock);
    syn::custom_keyword!(lease);
    syn::custom_keyword!(capacity);
    syn::custom_keyword!(background);
    syn::custom_keyword!(warm);
    syn::custom_keyword!(recache);
    syn::custom_keyword!(resource);
    syn::custom_keyword!(suffix);
    syn::custom_keyword!(recache_concurrency);
    syn::custom_keyword!(recache_background);
}

/// A TTL or stale window as written.
pub(crate) enum DurationArg {
    /// `300` or `"5m"`: known at compile time.
    Fixed(Duration, Span),
    /// `"short"` / `"long"`: the cache's presets.
    Preset(Preset, Span),
    /// Any expression of type `Duration`.
    Expr(Box<Expr>),
}

#[derive(Clone, Copy)]
pub(crate) enum Preset {
    Short,
    Long,
}

/// The options of `#[cached]`.
#[derive(Default)]
pub(crate) struct CachedArgs {
    pub(crate) key: Option<LitStr>,
    pub(crate) ttl: Option<DurationArg>,
    pub(crate) tags: Vec<LitStr>,
    pub(crate) cache: Option<Expr>,
    pub(crate) condition: Option<Expr>,
    pub(crate) unless: Option<Expr>,
    pub(crate) stale: Option<DurationArg>,
    pub(crate) lock: Option<LockArg>,
    pub(crate) lease: Option<DurationArg>,
    pub(crate) background: Option<LitBool>,
    /// `warm = true`: registers a refresh with a running `Warmer` (see `warm.rs`).
    pub(crate) warm: Option<LitBool>,
    pub(crate) krate: Option<Path>,
    /// `resource = user, suffix = ".."` (see `resource.rs`).
    pub(crate) resource: Option<Path>,
    pub(crate) suffix: Option<LitStr>,
}

/// The options of `#[cache_invalidate]`.
#[derive(Default)]
pub(crate) struct InvalidateArgs {
    pub(crate) keys: Vec<LitStr>,
    pub(crate) tags: Vec<LitStr>,
    pub(crate) patterns: Vec<LitStr>,
    pub(crate) cache: Option<Expr>,
    pub(crate) krate: Option<Path>,
    /// No keys, tags or patterns: nothing to invalidate.
    pub(crate) empty: bool,
    /// `recache = [..]`, `recache_concurrency`, `recache_background` (see `recache.rs`).
    pub(crate) recache: crate::recache::RecacheArgs,
    /// `resource = user` (see `resource.rs`).
    pub(crate) resource: Option<Path>,
}

/// The options of `#[memoize]`.
#[derive(Default)]
pub(crate) struct MemoizeArgs {
    pub(crate) capacity: Option<LitInt>,
    pub(crate) ttl: Option<DurationArg>,
    pub(crate) key: Option<Expr>,
    pub(crate) krate: Option<Path>,
}

/// Parses `= value` after an option name, failing if the option was already given.
pub(crate) fn once<T>(
    slot: &mut Option<T>,
    name: Span,
    input: ParseStream<'_>,
    what: &str,
    value: impl FnOnce(ParseStream<'_>) -> syn::Result<T>,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            name,
            format!("`{what}` is given more than once"),
        ));
    }
    input.parse::<Token![=]>()?;
    *slot = Some(value(input)?);
    Ok(())
}

pub(crate) fn once_list(
    slot: &mut Option<()>,
    list: &mut Vec<LitStr>,
    name: Span,
    input: ParseStream<'_>,
    what: &str,
) -> syn::Result<()> {
    once(slot, name, input, what, |input| {
        let content;
        bracketed!(content in input);
        let items = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
        list.extend(items);
        Ok(())
    })
}

pub(crate) fn krate(input: ParseStream<'_>) -> syn::Result<Path> {
    Path::parse_mod_style(input)
}

pub(crate) fn expr(input: ParseStream<'_>) -> syn::Result<Expr> {
    input.parse()
}

/// Parses the options separated by commas, with `one` handling each option.
pub(crate) fn options(
    input: ParseStream<'_>,
    mut one: impl FnMut(ParseStream<'_>) -> syn::Result<()>,
) -> syn::Result<()> {
    while !input.is_empty() {
        one(input)?;
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

impl Parse for CachedArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut a = CachedArgs::default();
        let mut tags = None;
        let mut lease_span = None;
        options(input, |input| {
            let la = input.lookahead1();
            let span = input.span();
            if la.peek(kw::key) {
                input.parse::<kw::key>()?;
                once(&mut a.key, span, input, "key", |i| i.parse())
            } else if la.peek(kw::ttl) {
                input.parse::<kw::ttl>()?;
                once(&mut a.ttl, span, input, "ttl", |i| duration(i, "ttl", true))
            } else if la.peek(kw::tags) {
                input.parse::<kw::tags>()?;
                once_list(&mut tags, &mut a.tags, span, input, "tags")
            } else if la.peek(kw::cache) {
                input.parse::<kw::cache>()?;
                once(&mut a.cache, span, input, "cache", expr)
            } else if la.peek(kw::condition) {
                input.parse::<kw::condition>()?;
                once(&mut a.condition, span, input, "condition", expr)
            } else if la.peek(kw::unless) {
                input.parse::<kw::unless>()?;
                once(&mut a.unless, span, input, "unless", expr)
            } else if la.peek(kw::stale) {
                input.parse::<kw::stale>()?;
                once(&mut a.stale, span, input, "stale", |i| {
                    duration(i, "stale", true)
                })
            } else if la.peek(kw::lock) {
                input.parse::<kw::lock>()?;
                once(&mut a.lock, span, input, "lock", LockArg::parse)
            } else if la.peek(kw::lease) {
                input.parse::<kw::lease>()?;
                lease_span = Some(span);
                once(&mut a.lease, span, input, "lease", |i| {
                    duration(i, "lease", false)
                })
            } else if la.peek(kw::background) {
                input.parse::<kw::background>()?;
                once(&mut a.background, span, input, "background", |i| i.parse())
            } else if la.peek(kw::warm) {
                input.parse::<kw::warm>()?;
                once(&mut a.warm, span, input, "warm", |i| i.parse())
            } else if la.peek(kw::resource) {
                input.parse::<kw::resource>()?;
                once(&mut a.resource, span, input, "resource", krate)
            } else if la.peek(kw::suffix) {
                input.parse::<kw::suffix>()?;
                once(&mut a.suffix, span, input, "suffix", |i| i.parse())
            } else if la.peek(Token![crate]) {
                input.parse::<Token![crate]>()?;
                once(&mut a.krate, span, input, "crate", krate)
            } else {
                Err(crate::unknown::error(
                    input,
                    "cached",
                    crate::unknown::CACHED,
                ))
            }
        })?;
        crate::lock::check(a.lock.as_ref(), lease_span)?;
        if let (Some(s), None) = (&a.suffix, &a.resource) {
            return Err(syn::Error::new(
                s.span(),
                "`suffix` names a key of a resource: add `resource = ..` (declared with `cache_core::resource!`)",
            ));
        }
        if let (Some(_), Some(k)) = (&a.resource, &a.key) {
            return Err(syn::Error::new(
                k.span(),
                "a resource gives the key (`name:suffix:{id}`): leave out `key`, or `resource`",
            ));
        }
        if let Some(b) = &a.background {
            if b.value && a.stale.is_none() {
                return Err(syn::Error::new(
                    b.span(),
                    "`background = true` refreshes stale values: add `stale = ..` (how long a value may be served after its TTL)",
                ));
            }
        }
        Ok(a)
    }
}

impl Parse for InvalidateArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut a = InvalidateArgs::default();
        let (mut keys, mut tags, mut patterns) = (None, None, None);
        options(input, |input| {
            let la = input.lookahead1();
            let span = input.span();
            if la.peek(kw::keys) {
                input.parse::<kw::keys>()?;
                once_list(&mut keys, &mut a.keys, span, input, "keys")
            } else if la.peek(kw::tags) {
                input.parse::<kw::tags>()?;
                once_list(&mut tags, &mut a.tags, span, input, "tags")
            } else if la.peek(kw::patterns) {
                input.parse::<kw::patterns>()?;
                once_list(&mut patterns, &mut a.patterns, span, input, "patterns")
            } else if la.peek(kw::cache) {
                input.parse::<kw::cache>()?;
                once(&mut a.cache, span, input, "cache", expr)
            } else if la.peek(kw::recache) {
                input.parse::<kw::recache>()?;
                once(&mut a.recache.calls, span, input, "recache", |i| {
                    let content;
                    bracketed!(content in i);
                    Ok(Punctuated::<Expr, Token![,]>::parse_terminated(&content)?
                        .into_iter()
                        .collect())
                })
            } else if la.peek(kw::recache_concurrency) {
                input.parse::<kw::recache_concurrency>()?;
                once(
                    &mut a.recache.concurrency,
                    span,
                    input,
                    "recache_concurrency",
                    |i| {
                        let lit: LitInt = i.parse()?;
                        match lit.base10_parse::<usize>() {
                        Ok(0) | Err(_) => Err(syn::Error::new(
                            lit.span(),
                            "`recache_concurrency` must be a positive integer (the most recache calls run at once)",
                        )),
                        Ok(_) => Ok(lit),
                    }
                    },
                )
            } else if la.peek(kw::recache_background) {
                input.parse::<kw::recache_background>()?;
                once(
                    &mut a.recache.background,
                    span,
                    input,
                    "recache_background",
                    |i| i.parse(),
                )
            } else if la.peek(kw::resource) {
                input.parse::<kw::resource>()?;
                once(&mut a.resource, span, input, "resource", krate)
            } else if la.peek(Token![crate]) {
                input.parse::<Token![crate]>()?;
                once(&mut a.krate, span, input, "crate", krate)
            } else {
                Err(crate::unknown::error(
                    input,
                    "cache_invalidate",
                    crate::unknown::INVALIDATE,
                ))
            }
        })?;
        a.empty =
            a.keys.is_empty() && a.tags.is_empty() && a.patterns.is_empty() && a.resource.is_none();
        Ok(a)
    }
}

impl Parse for MemoizeArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut a = MemoizeArgs::default();
        options(input, |input| {
            let la = input.lookahead1();
            let span = input.span();
            if la.peek(kw::capacity) {
                input.parse::<kw::capacity>()?;
                once(&mut a.capacity, span, input, "capacity", |i| {
                    let lit: LitInt = i.parse()?;
                    match lit.base10_parse::<usize>() {
                        Ok(0) | Err(_) => Err(syn::Error::new(
                            lit.span(),
                            "`capacity` must be a positive integer (the most entries the table keeps)",
                        )),
                        Ok(_) => Ok(lit),
                    }
                })
            } else if la.peek(kw::ttl) {
                input.parse::<kw::ttl>()?;
                once(&mut a.ttl, span, input, "ttl", |i| {
                    duration(i, "ttl", false)
                })
            } else if la.peek(kw::key) {
                input.parse::<kw::key>()?;
                once(&mut a.key, span, input, "key", expr)
            } else if la.peek(Token![crate]) {
                input.parse::<Token![crate]>()?;
                once(&mut a.krate, span, input, "crate", krate)
            } else {
                Err(crate::unknown::error(
                    input,
                    "memoize",
                    crate::unknown::MEMOIZE,
                ))
            }
        })?;
        Ok(a)
    }
}

fn zero_ttl(span: proc_macro2::Span) -> syn::Error {
    syn::Error::new(
        span,
        "`ttl` of zero: nothing would ever be stored; remove the attribute or give a positive TTL",
    )
}

/// `300`, `"90s"`, `"1h30m"`, `"short"`/`"long"` (when presets apply), or a `Duration` expression.
pub(crate) fn duration(
    input: ParseStream<'_>,
    what: &str,
    presets: bool,
) -> syn::Result<DurationArg> {
    if input.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        let secs = lit.base10_parse::<u64>().map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!("`{what}` in seconds must be a non-negative integer"),
            )
        })?;
        if secs == 0 && what == "ttl" {
            return Err(zero_ttl(lit.span()));
        }
        return Ok(DurationArg::Fixed(Duration::from_secs(secs), lit.span()));
    }
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        let text = lit.value();
        let t = text.trim();
        if presets {
            match t {
                "short" => return Ok(DurationArg::Preset(Preset::Short, lit.span())),
                "long" => return Ok(DurationArg::Preset(Preset::Long, lit.span())),
                _ => {}
            }
        }
        if !presets && matches!(t, "short" | "long") {
            return Err(syn::Error::new(
                lit.span(),
                format!("`{what}` presets (\"short\", \"long\") belong to a `Cache` and do not apply here; write a duration such as \"5m\""),
            ));
        }
        let parsed = if let Ok(secs) = t.parse::<u64>() {
            Ok(Duration::from_secs(secs))
        } else {
            humantime::parse_duration(t).map_err(|e| e.to_string())
        };
        return match parsed {
            Ok(d) if d.is_zero() && what == "ttl" => Err(zero_ttl(lit.span())),
            Ok(d) => Ok(DurationArg::Fixed(d, lit.span())),
            Err(e) => {
                let presets = if presets {
                    ", or \"short\" / \"long\""
                } else {
                    ""
                };
                Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "invalid `{what}` {text:?}: {e}; expected seconds or a duration like \"90s\", \"5m\", \"1h30m\"{presets}"
                    ),
                ))
            }
        };
    }
    let e: Expr = input.parse()?;
    Ok(DurationArg::Expr(Box::new(e)))
}
