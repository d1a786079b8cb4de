//! The inner-service accessors of this crate's services (`get_ref`, `get_mut`,
//! `into_inner`), written once for all of them.

/// Implements `get_ref`, `get_mut` and `into_inner` for `$service<S>`, whose field `inner`
/// holds the inner service. `$wrap` is an expression that wraps `7u8`, for the examples.
macro_rules! inner_accessors {
    ($service:ident, $wrap:literal) => {
        impl<S> $service<S> {
            #[doc = concat!(
                                "The inner service.\n\n```\nlet svc = ", $wrap, ";\n",
                                "assert_eq!(*svc.get_ref(), 7);\n```"
                            )]
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            #[doc = concat!(
                                "The inner service, mutably.\n\n```\nlet mut svc = ", $wrap, ";\n",
                                "*svc.get_mut() = 8;\nassert_eq!(svc.into_inner(), 8);\n```"
                            )]
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            #[doc = concat!(
                                "Unwraps the inner service.\n\n```\nlet svc = ", $wrap, ";\n",
                                "assert_eq!(svc.into_inner(), 7);\n```"
                            )]
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}

pub(crate) use inner_accessors;
