//! The calculator service from the README, shared by the example binaries:
//! `demo` (server and client in one command), `calculator-server` and `calculator-client`.

use facet::Facet;

pub mod numbers;
pub mod web;

/// Why a division failed. The error type is part of the service contract.
#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum MathError {
    /// The divisor was zero.
    DivisionByZero,
    /// The quotient does not fit in an `i32`.
    Overflow,
}

/// A point in the plane.
#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Point {
    /// Horizontal coordinate.
    pub x: i32,
    /// Vertical coordinate.
    pub y: i32,
}

/// A small calculator.
#[roam::service]
pub trait Calculator {
    /// Adds two numbers.
    async fn add(&self, a: i32, b: i32) -> i32;
    /// Divides `a` by `b`; fails on division by zero and overflow.
    async fn divide(&self, a: i32, b: i32) -> Result<i32, MathError>;
    /// Moves a point by `(dx, dy)`.
    async fn translate(&self, p: Point, dx: i32, dy: i32) -> Point;
    /// Greets the caller, using the `user` metadata entry if present.
    async fn greet(&self, cx: &roam::Context, name: &str) -> String;
}

/// The calculator implementation.
#[derive(Debug, Default, Clone, Copy)]
pub struct Calc;

impl Calculator for Calc {
    async fn add(&self, a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }

    async fn divide(&self, a: i32, b: i32) -> Result<i32, MathError> {
        if b == 0 {
            return Err(MathError::DivisionByZero);
        }
        a.checked_div(b).ok_or(MathError::Overflow)
    }

    async fn translate(&self, p: Point, dx: i32, dy: i32) -> Point {
        Point {
            x: p.x + dx,
            y: p.y + dy,
        }
    }

    async fn greet(&self, cx: &roam::Context, name: &str) -> String {
        match cx.metadata().get_str("user") {
            Some(user) => format!("Hello, {name}! (asked by {user} from {})", cx.peer()),
            None => format!("Hello, {name}!"),
        }
    }
}

/// Runs every calculator method once against `calc` and prints what happens.
pub async fn tour(calc: &CalculatorClient) -> Result<(), Box<dyn std::error::Error>> {
    println!("add(2, 3)              = {}", calc.add(2, 3).await?);
    println!("divide(7, 2)           = {:?}", calc.divide(7, 2).await?);
    match calc.divide(1, 0).await {
        Err(roam::CallError::User(e)) => println!("divide(1, 0)           = error {e:?}"),
        other => println!("divide(1, 0)           = unexpected {other:?}"),
    }
    println!(
        "translate((1,2), 3, 4) = {:?}",
        calc.translate(Point { x: 1, y: 2 }, 3, 4).await?
    );
    println!(
        "greet(\"roam\")          = {}",
        calc.greet("roam").with_metadata("user", "demo").await?
    );
    Ok(())
}
