//! Derive macros for the `wick` crate: a struct's fields become an
//! endpoint's inputs or outputs. Use them as `wick::Inputs`,
//! `wick::Outputs` and `wick::Choice`; the traits they implement are
//! documented there.
//!
//! What the macros can judge from the syntax (the shape of the item, the
//! attributes' names and values) is a compile error here; which Rust types
//! fit which widget is checked by the traits, whose messages say what fits
//! (`#[diagnostic::on_unimplemented]`).

#![deny(missing_docs)]

mod attributes;
mod choice;
mod fields;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// The struct's named fields become the endpoint's inputs (see
/// `wick::Inputs`).
#[proc_macro_derive(Inputs, attributes(wick))]
pub fn derive_inputs(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    fields::inputs(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The struct's named fields become the endpoint's outputs (see
/// `wick::Outputs`).
#[proc_macro_derive(Outputs, attributes(wick))]
pub fn derive_outputs(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    fields::outputs(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// A fieldless enum becomes a choice among its variants: a dropdown, or
/// radio buttons with `#[wick(radio)]` on the field (see `wick::Choice`).
#[proc_macro_derive(Choice, attributes(wick))]
pub fn derive_choice(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    choice::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
