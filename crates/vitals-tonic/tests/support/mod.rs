pub mod greeter;
