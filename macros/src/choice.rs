//! `#[derive(Choice)]`: a fieldless enum as a choice among its variants.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

pub fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ident = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            ident,
            format!(
                "#[derive(Choice)] needs an enum whose variants are the choices; `{ident}` is not an enum"
            ),
        ));
    };
    if data.variants.is_empty() {
        return Err(syn::Error::new_spanned(
            ident,
            "#[derive(Choice)] needs at least one variant to choose",
        ));
    }
    let mut variants = Vec::new();
    let mut names = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(
                variant,
                format!(
                    "#[derive(Choice)] takes variants without fields; `{}` has some",
                    variant.ident
                ),
            ));
        }
        let mut name = variant.ident.to_string();
        for attribute in variant.attrs.iter().filter(|a| a.path().is_ident("wick")) {
            attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    name = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta
                        .error("a choice's variant takes one wick attribute: `rename = \"...\"`"))
                }
            })?;
        }
        variants.push(&variant.ident);
        names.push(name);
    }
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::wick::Choice for #ident #type_generics #where_clause {
            const CHOICES: &'static [&'static str] = &[#(#names),*];
            fn from_choice(choice: &str) -> ::core::option::Option<Self> {
                match choice {
                    #( #names => ::core::option::Option::Some(#ident::#variants), )*
                    _ => ::core::option::Option::None,
                }
            }
            fn choice(&self) -> &'static str {
                match self {
                    #( #ident::#variants => #names, )*
                }
            }
        }
    })
}
