from django.http import HttpResponse


def study_list(request):
    return HttpResponse("placeholder")


def study_detail(request, pk):
    return HttpResponse("placeholder")
