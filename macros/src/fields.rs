//! `#[derive(Inputs)]` and `#[derive(Outputs)]`: one field of the
//! signature per named field of the struct.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Expr, ExprLit, Fields, Lit, Type};

use crate::attributes::{FieldAttributes, Side, doc};

/// The struct's named fields, or an error that says what is expected.
fn named_fields<'a>(
    input: &'a DeriveInput,
    derive: &str,
    one: &str,
) -> syn::Result<Vec<&'a syn::Field>> {
    let shape = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) if !fields.named.is_empty() => {
                return Ok(fields.named.iter().collect());
            }
            Fields::Named(_) | Fields::Unit => "a struct with no fields",
            Fields::Unnamed(_) => "a tuple struct",
        },
        Data::Enum(_) => "an enum",
        Data::Union(_) => "a union",
    };
    Err(syn::Error::new_spanned(
        &input.ident,
        format!(
            "#[derive({derive})] needs a struct with named fields, one per {one}; `{}` is {shape}",
            input.ident
        ),
    ))
}

/// Whether the type is written `Option<...>`.
fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none()
        && path.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// The field's name, label and description, as the field constructors take them.
fn naming(field: &syn::Field, attributes: &FieldAttributes) -> (String, TokenStream, String) {
    let name = field
        .ident
        .as_ref()
        .map(|ident| ident.to_string().trim_start_matches("r#").to_string())
        .unwrap_or_default();
    let label = match &attributes.label {
        Some(label) => quote!(::core::option::Option::Some(#label)),
        None => quote!(::core::option::Option::None),
    };
    (name, label, doc(&field.attrs))
}

pub fn inputs(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fields = named_fields(input, "Inputs", "input")?;
    let mut signature = Vec::new();
    let mut reads = Vec::new();
    let mut sizes = Vec::new();
    for field in fields {
        let attributes = FieldAttributes::parse(&field.attrs, Side::Input)?;
        let (name, label, description) = naming(field, &attributes);
        let ty = &field.ty;
        let ident = &field.ident;
        let private = quote!(::wick::__private);
        let mut steps = Vec::new();
        if attributes.lines.is_some()
            || attributes.placeholder.is_some()
            || attributes.max_chars.is_some()
        {
            let lines = optional(&attributes.lines);
            let placeholder = optional(&attributes.placeholder);
            let max_chars = optional(&attributes.max_chars);
            steps.push(
                quote!(<#ty as #private::TextInput>::text(field, #lines, #placeholder, #max_chars)),
            );
        }
        if attributes.min.is_some() || attributes.max.is_some() || attributes.step.is_some() {
            let min = optional_number(&attributes.min);
            let max = optional_number(&attributes.max);
            let step = optional_number(&attributes.step);
            let slider = attributes.slider.is_some();
            steps.push(
                quote!(<#ty as #private::NumberInput>::range(field, #min, #max, #step, #slider)),
            );
        }
        if attributes.radio.is_some() {
            steps.push(quote!(<#ty as #private::ChoiceInput>::radio(field)));
        }
        if attributes.max_items.is_some() {
            let max_items = optional(&attributes.max_items);
            steps.push(quote!(<#ty as #private::TagsInput>::max_items(field, #max_items)));
        }
        if let Some(max_bytes) = &attributes.max_bytes {
            steps.push(quote!(<#ty as #private::MediaInput>::max_bytes(field, #max_bytes)));
        }
        if let Some(max_messages) = &attributes.max_messages {
            steps.push(quote!(<#ty as #private::ChatInput>::max_messages(field, #max_messages)));
        }
        if let Some(default) = &attributes.default {
            if is_option(ty) {
                return Err(syn::Error::new_spanned(
                    default,
                    "an `Option` input has no default (it is `None` when left out): \
                     give `default` to a field of the plain type",
                ));
            }
            // A string literal stands for a `String` field's default.
            let default = match default {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(text),
                    ..
                }) => quote!(::std::string::String::from(#text)),
                other => quote!(#other),
            };
            steps.push(quote!({
                let default: #ty = #default;
                field.optional(::core::option::Option::Some(
                    <#ty as #private::Input>::into_value(default),
                ))
            }));
        }
        signature.push(quote!({
            let field = #private::input_field::<#ty>(#name, #label, #description);
            #( let field = #steps; )*
            field
        }));
        reads.push(quote!(#ident: #private::take::<#ty>(values, #name)?));
        sizes.push(quote!(<#ty as #private::Input>::size(&self.#ident)));
    }
    let ident = &input.ident;
    let description = doc(&input.attrs);
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::wick::Inputs for #ident #type_generics #where_clause {
            fn description() -> &'static str {
                #description
            }
            fn fields() -> ::std::vec::Vec<::wick::Field> {
                ::std::vec![#(#signature),*]
            }
            fn from_values(
                values: &mut ::wick::Values,
            ) -> ::core::result::Result<Self, ::wick::__private::FieldError> {
                ::core::result::Result::Ok(#ident { #(#reads),* })
            }
            fn size(&self) -> usize {
                (0 #(+ #sizes)*).max(1)
            }
        }
    })
}

pub fn outputs(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fields = named_fields(input, "Outputs", "output")?;
    let mut signature = Vec::new();
    let mut writes = Vec::new();
    for field in fields {
        let attributes = FieldAttributes::parse(&field.attrs, Side::Output)?;
        let (name, label, description) = naming(field, &attributes);
        let ty = &field.ty;
        let ident = &field.ident;
        let private = quote!(::wick::__private);
        let mut steps = Vec::new();
        if let Some(top_k) = &attributes.top_k {
            steps.push(quote!(<#ty as #private::LabelOutput>::top_k(field, #top_k)));
        }
        if let Some(dim) = &attributes.dim {
            steps.push(quote!(<#ty as #private::EmbeddingOutput>::dim(field, #dim)));
        }
        signature.push(quote!({
            let field = #private::output_field::<#ty>(#name, #label, #description);
            #( let field = #steps; )*
            field
        }));
        writes.push(quote! {
            if let ::core::option::Option::Some(value) =
                <#ty as #private::Output>::into_output(self.#ident)
            {
                values.insert(::std::string::String::from(#name), value);
            }
        });
    }
    let ident = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::wick::Outputs for #ident #type_generics #where_clause {
            fn fields() -> ::std::vec::Vec<::wick::Field> {
                ::std::vec![#(#signature),*]
            }
            fn into_values(self) -> ::wick::Values {
                let mut values = ::wick::Values::new();
                #(#writes)*
                values
            }
        }
    })
}

fn optional<T: quote::ToTokens>(value: &Option<T>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

/// A number literal as an `Option<f64>`.
fn optional_number(value: &Option<Expr>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some((#value) as f64)),
        None => quote!(::core::option::Option::None),
    }
}
