//! `/tickets/{ticketCode}`: the ticket a payment's answer names, read by whoever holds its code,
//! with no token, long after the token died.

use crate::helpers::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

const DATE: &str = "2026-12-24";

#[tokio::test]
async fn a_ticket_is_read_by_its_code_with_no_token_long_after_the_payment() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("Tickets That Stay", &[(DATE, 10, 30_000)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 100_000).await.status(), StatusCode::OK);
    let reservation_id = text(&app.held(&fan, &concert, DATE, 7).await["reservationId"]);
    let receipt = body(app.pay(&fan, &reservation_id).await).await;
    let code = text(&receipt["ticketCode"]);
    assert_eq!(code.len(), 22, "{receipt}");

    // Days later: the token is long dead, and the ticket is there for its code alone.
    app.advance(Duration::days(3));
    let ticket = app.get(&format!("/api/v1/tickets/{code}")).await;
    assert_eq!(ticket.status(), StatusCode::OK);
    assert_eq!(
        body(ticket).await,
        json!({
            "ticketCode": code,
            "status": "VALID",
            "concertId": concert,
            "title": "Tickets That Stay",
            "date": DATE,
            "seatNumber": 7,
            "price": 30_000,
            "paymentId": receipt["paymentId"],
            "paidAt": receipt["paidAt"],
        })
    );
    let fan = app.token_for(&fan.user_id).await;
    let payments = body(app.get_as(&fan, "/api/v1/payments").await).await;
    assert_eq!(payments[0]["ticketCode"], code.as_str(), "{payments}");
}

#[tokio::test]
async fn every_seat_paid_has_a_ticket_of_its_own() {
    let app = spawn_app();
    let concert = app.create_concert("Two Fans", &[(DATE, 10, 1_000)]).await;
    let mut codes = Vec::new();
    for (name, seat) in [("Kim", 1), ("Lee", 2)] {
        let fan = app.fan(name).await;
        assert_eq!(app.charge(&fan, 1_000).await.status(), StatusCode::OK);
        let reservation_id = text(&app.held(&fan, &concert, DATE, seat).await["reservationId"]);
        codes.push((
            text(&body(app.pay(&fan, &reservation_id).await).await["ticketCode"]),
            seat,
        ));
    }
    assert_ne!(codes[0].0, codes[1].0);
    for (code, seat) in codes {
        let ticket = body(app.get(&format!("/api/v1/tickets/{code}")).await).await;
        assert_eq!(ticket["seatNumber"], seat, "{ticket}");
    }
}

#[tokio::test]
async fn an_unknown_code_is_not_found_and_text_that_is_no_code_is_invalid() {
    let app = spawn_app();
    let concert = app.create_concert("Guessing", &[(DATE, 10, 1_000)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 1_000).await.status(), StatusCode::OK);
    let reservation_id = text(&app.held(&fan, &concert, DATE, 1).await["reservationId"]);
    let receipt = body(app.pay(&fan, &reservation_id).await).await;
    let code = text(&receipt["ticketCode"]);
    let one_off = format!("{}{}", if code.starts_with('A') { 'B' } else { 'A' }, &code[1..]);
    for guess in [one_off, "AAAAAAAAAAAAAAAAAAAAAA".to_string()] {
        let refused = app.get(&format!("/api/v1/tickets/{guess}")).await;
        assert_problem(refused, 404, "TICKET_NOT_FOUND").await;
    }
    let last_bits_set = format!("{}B", &code[..21]);
    let malformed = [
        text(&receipt["paymentId"]),
        reservation_id,
        "short".to_string(),
        format!("{code}A"),
        last_bits_set,
    ];
    for text in malformed {
        let refused = app.get(&format!("/api/v1/tickets/{text}")).await;
        assert_problem(refused, 400, "INVALID_REQUEST").await;
    }
}
