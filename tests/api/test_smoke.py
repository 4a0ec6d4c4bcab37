def test_member_sees_the_catalogue_with_their_own_enrollment(world):
    response = world.client(world.alice).get("/api/groups/")
    assert response.status_code == 200, response.json()
    groups = {g["name"]: g for g in response.json()["results"]}
    assert groups["Evening Circle"]["my_enrollment"]["status"] == "active"
    assert groups["Other Group"]["my_enrollment"] is None
    assert groups["Evening Circle"]["recurrence"]["rrule"] == "FREQ=WEEKLY;BYDAY=TU"
